"""Sizing the Ray actor pool, and the GPU request, without starting Ray."""

from __future__ import annotations

import pytest

from revsearch.distributed.ray_index import FORCE_GPU_ENV, check_fits, plan
from revsearch.errors import RevsearchError


def test_cpu_cluster_fills_cpus_without_gpu_request() -> None:
    p = plan({"CPU": 16.0})
    assert (p.actors, p.cpus_per_actor) == (16, 1.0)
    assert plan({"CPU": 16.0}, cpus_per_actor=4).actors == 4
    assert "num_gpus" not in p.actor_options() and p.actor_options()["max_restarts"] > 0


def test_gpu_cluster_gets_one_actor_per_gpu() -> None:
    p = plan({"CPU": 32.0, "GPU": 2.0})
    assert p.actors == 2 and p.actor_options()["num_gpus"] == 1.0


def test_forced_gpu_request_is_formed_and_refused_on_a_cpu_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORCE_GPU_ENV, "0.5")
    p = plan({"CPU": 2.0})
    assert p.actor_options()["num_gpus"] == 0.5
    with pytest.raises(RevsearchError, match="cluster has 0"):
        check_fits(p, {"CPU": 2.0})
    assert plan({"CPU": 2.0}, gpus_per_actor=1.0).actor_options()["num_gpus"] == 1.0
