"""Turn images into L2-normalised float32 vectors with a registered model, on PyTorch or ONNX Runtime.

The ONNX Runtime backend is ~2× faster than PyTorch eager on CPU; its graph (any batch size, any height and width
that are multiples of 32) is exported once per model + weights, cached on disk, and checked against the PyTorch
output — on a square and on a wide batch — before first use. How an image becomes model inputs is the embedder's
input handling (revsearch/embed/views.py).
"""

from __future__ import annotations

import copy
import logging
import os
from importlib.metadata import version
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from revsearch.embed import views
from revsearch.embed.models import ModelSpec, file_fingerprint, model_entry
from revsearch.embed.views import STEP, Prepared
from revsearch.errors import RevsearchError
from revsearch.input_modes import DEFAULT_INPUT, check_input

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")


def cache_dir() -> Path:
    """Where exported ONNX graphs live ($REVSEARCH_CACHE, else ~/.cache/revsearch)."""
    return Path(os.environ.get("REVSEARCH_CACHE", Path.home() / ".cache" / "revsearch")).expanduser()


THREADS_ENV = "REVSEARCH_THREADS"


def cpu_threads() -> int:
    """Threads for inference: every core this process may use, or $REVSEARCH_THREADS (a Ray actor sets it to the
    CPUs it reserved, so two actors on one node do not each spin up a thread per core)."""
    if os.environ.get(THREADS_ENV, "").isdigit() and int(os.environ[THREADS_ENV]) > 0:
        return int(os.environ[THREADS_ENV])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def onnx_cache_path(name: str, fingerprint: str) -> Path:
    """Where the validated ONNX graph of a model + weights lives (a Ray worker installs a shipped graph here).

    `-hw`: graphs with a dynamic height and width; a cached graph of the fixed 224×224 kind has another name and is
    never loaded for them."""
    return cache_dir() / "onnx" / f"{name}-{fingerprint[:16]}-torch{version('torch')}-hw.onnx"


def onnx_providers(available: Sequence[str]) -> list[str]:
    """CUDA first when this ONNX Runtime build has it (onnxruntime-gpu on a GPU node), always CPU as the fallback."""
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]


class Embedder:
    """A loaded model and an input handling: `embed_images(images) -> float32[n,dim]`, rows L2-normalised.

    `input_mode` (input_modes.INPUT_MODES) says how an image becomes model inputs; `for_input` gives the same loaded model
    under another mode, so one loaded model serves collections of either kind."""

    def __init__(self, name: str, backend: str = "auto", weights: Path | None = None, random_weights: bool = False,
                 input_mode: str = DEFAULT_INPUT):
        if backend not in BACKENDS:
            raise RevsearchError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.input_mode = check_input(input_mode)
        entry = model_entry(name)
        self.spec: ModelSpec = entry.spec
        self.name = self.spec.name
        self.dim = self.spec.dim
        self.input_size = self.spec.input_size
        if random_weights:
            weights_path = None
            self.fingerprint = "random-weights"
        else:
            weights_path = Path(weights) if weights is not None else entry.weights_path()
            self.fingerprint = file_fingerprint(weights_path)
        self._build = entry.build
        self._weights_path = weights_path
        self._random_weights = random_weights
        self._net = None
        self._ort = None
        self.backend = "torch"
        if backend in ("auto", "onnx") and not random_weights:
            try:
                self._ort = self._load_onnx()
                self.backend = "onnx"
            except Exception as exc:  # ONNX is an accelerator, never a requirement
                if backend == "onnx":
                    raise RevsearchError(f"ONNX Runtime backend unavailable for {name}: {exc}") from exc
                log.warning("falling back to PyTorch for %s: %s", name, exc)
        if self._ort is None:
            _ = self.net  # build now so the first query is not the slow one

    @property
    def net(self):
        """The PyTorch model (a `FeatureNet`), built on first use: a cached ONNX graph needs neither the model nor
        the import of torch (~2.5 s of every CLI call)."""
        if self._net is None:
            import torch

            from revsearch.embed.torchnet import FeatureNet

            torch.set_num_threads(cpu_threads())
            if self._random_weights:
                torch.manual_seed(0)  # random but reproducible, for architecture tests
            body = self._build(self._weights_path)
            net = FeatureNet(body, self.spec.mean, self.spec.std).eval()
            self._net = net.to(memory_format=torch.channels_last)
        return self._net

    # ------------------------------------------------------------------ inference

    def for_input(self, mode: str) -> "Embedder":
        """This loaded model (network and session shared, nothing reloaded) under input handling `mode`."""
        if check_input(mode) == self.input_mode:
            return self
        other = copy.copy(self)
        other.input_mode = mode
        return other

    def prepare(self, img: Image.Image) -> Prepared:
        """One decoded image → the model inputs of this embedder's input handling."""
        return views.prepare(img, self.spec, self.input_mode)

    def embed_prepared(self, items: Sequence[Prepared], batch_size: int = 32) -> np.ndarray:
        """Prepared images → float32 [n,dim] L2-normalised (two views: the normalised sum of both)."""
        return views.embed_prepared(self.embed_batch, items, self.dim, batch_size)

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [n,H,W,3] → float32 [n,dim] L2-normalised; H and W multiples of 32 (the square input or a native
        view: the sizes the networks' strides divide, for which the exported graph is exact)."""
        if batch.ndim != 4 or batch.shape[3] != 3 or batch.shape[1] % STEP or batch.shape[2] % STEP or \
                min(batch.shape[1:3]) < STEP:
            raise ValueError(f"expected uint8 [n,H,W,3] with H and W multiples of {STEP}, got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.uint8)
        if self._ort is not None:
            out = self._ort.run(None, {"images": batch})[0]
        else:
            out = self.embed_batch_torch(batch)
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_batch_torch(self, batch: np.ndarray) -> np.ndarray:
        """The reference PyTorch path (also what the ONNX graph is validated against)."""
        import torch

        with torch.inference_mode():
            return self.net(torch.from_numpy(batch)).numpy()

    def embed_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """Decoded images → vectors, in batches."""
        out = [self.embed_prepared([self.prepare(im) for im in images[i : i + batch_size]], batch_size)
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    # ------------------------------------------------------------------ ONNX

    def onnx_path(self) -> Path:
        return onnx_cache_path(self.name, self.fingerprint)

    def _load_onnx(self):
        """The cached graph; exported and validated first when missing (only validated graphs reach the cache)."""
        path = self.onnx_path()
        if not path.exists():
            self._export_onnx(path)
        return self._session(path)

    def _session(self, path: Path):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cpu_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads must not spin after a run: they would take the cores from the FAISS scan that follows a
        # query embedding (measured: query p50 at 100k vectors 81 → 49 ms) and from the decode workers.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), opts, providers=onnx_providers(ort.get_available_providers()))

    def _export_onnx(self, path: Path) -> None:
        """Export once per model + weights + torch version; the file is renamed into the cache only after the
        graph reproduced PyTorch, so a killed or failed export leaves nothing behind."""
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        example = torch.zeros((2, self.input_size, self.input_size, 3), dtype=torch.uint8)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
        os.close(fd)
        net = self.net
        try:
            torch.onnx.export(
                net.to(memory_format=torch.contiguous_format),
                (example,),
                tmp,
                input_names=["images"],
                output_names=["vectors"],
                dynamic_axes={"images": {0: "n", 1: "h", 2: "w"}, "vectors": {0: "n"}},
                opset_version=17,
                dynamo=False,
            )
            net.to(memory_format=torch.channels_last)
            self._validate(self._session(Path(tmp)))
            os.replace(tmp, path)
        finally:
            net.to(memory_format=torch.channels_last)
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _validate(self, session) -> None:
        """The exported graph must reproduce PyTorch (cosine ≥ 0.9999 on fixed random batches, square and wide, the
        shapes it was not traced with included) before it is trusted."""
        rng = np.random.default_rng(0)
        size = self.input_size
        for shape in ((3, size, size, 3), (2, size, size + 3 * STEP, 3), (1, size + 2 * STEP, size, 3)):
            probe = rng.integers(0, 256, size=shape, dtype=np.uint8)
            ref = self.embed_batch_torch(probe)
            got = session.run(None, {"images": probe})[0]
            cos = np.sum(ref * got, axis=1)
            if float(cos.min()) < 0.9999:
                raise RevsearchError(f"ONNX graph for {self.name} disagrees with PyTorch on {shape[1]}×{shape[2]} "
                                     f"inputs (cosine {cos.min():.5f})")
