"""Model choice and weight resolution: ResNet-50 where its weights exist, Lite0 otherwise, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from revsearch.embed import Embedder, WeightsUnavailable, default_model
from revsearch.embed.models import RESNET50_ENV, build_resnet50, resnet50_weights_path


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(RESNET50_ENV, raising=False)
    return tmp_path / "torch"


def test_default_is_lite0_without_resnet_weights(empty_torch_home):
    name, why = default_model()
    assert name == "efficientnet_lite0"
    assert "resnet50-11ad3fa6.pth" in why and str(empty_torch_home) in why  # says how to get ResNet-50


def test_resnet50_weights_in_the_torch_cache_are_found_and_used(empty_torch_home):
    checkpoints = empty_torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save(build_resnet50(None).state_dict() | {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)},
               checkpoints / "resnet50-11ad3fa6.pth")
    name, why = default_model()
    assert name == "resnet50" and "resnet50-11ad3fa6.pth" in why
    net = Embedder("resnet50", backend="torch")
    assert net.dim == 2048 and len(net.fingerprint) == 32
    vec = net.embed_images([Image.new("RGB", (64, 48), (200, 10, 10))])
    assert vec.shape == (1, 2048) and np.isclose(np.linalg.norm(vec), 1.0, atol=1e-5)


def test_configured_path_must_exist(empty_torch_home, monkeypatch, tmp_path):
    monkeypatch.setenv(RESNET50_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsUnavailable, match="nope.pth"):
        Embedder("resnet50")
    assert default_model()[0] == "efficientnet_lite0"


def test_missing_weights_error_says_what_to_place_where(empty_torch_home):
    with pytest.raises(WeightsUnavailable) as err:
        resnet50_weights_path(url="http://127.0.0.1:9/resnet50-11ad3fa6.pth", timeout=5)  # nothing listens there
    message = str(err.value)
    assert "resnet50-11ad3fa6.pth" in message and str(empty_torch_home / "hub" / "checkpoints") in message
    assert RESNET50_ENV in message


def test_resnet50_urls_match_torchvision():
    from torchvision.models import ResNet50_Weights

    from revsearch.embed.models import RESNET50_URLS

    assert RESNET50_URLS == (ResNet50_Weights.IMAGENET1K_V2.url, ResNet50_Weights.IMAGENET1K_V1.url)


def test_hub_dir_matches_torch(tmp_path, monkeypatch):
    from revsearch.embed.models import torch_hub_dir

    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert torch_hub_dir() == Path(torch.hub.get_dir())
