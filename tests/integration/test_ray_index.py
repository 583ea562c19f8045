"""Indexing on a real local Ray cluster: same catalog as in-process, a worker that dies loses or duplicates nothing,
and the actors see photos with the collection's input handling. Each test starts Ray once (seconds each on 2 cores),
so there are only three, and each checks that no Ray process outlives the command."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.integration.scale_helpers import assert_same, cli, make_folder, snapshot


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("ray") / "photos", per_class=3)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Path:
    target = tmp_path_factory.mktemp("inproc") / "coll"
    cli("index", str(folder), "-c", str(target), "-q", "--batch-size", "8")
    return target


@pytest.fixture
def ray_tmp() -> Path:
    """A private Ray temp dir (short: Ray's socket paths must fit 107 bytes) to find our processes by."""
    directory = Path(tempfile.mkdtemp(prefix="rs-ray-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def ray_processes(ray_tmp: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(ray_tmp) in line]


def test_ray_local_matches_in_process(tmp_path: Path, folder: Path, in_process: Path, ray_tmp: Path) -> None:
    target = tmp_path / "coll"
    proc = cli("index", str(folder), "-c", str(target), "--ray", "local", "--batch-size", "8", "--json", "-q",
               env={"RAY_TMPDIR": str(ray_tmp)})
    report = json.loads(proc.stdout)
    assert (report["indexed"], len(report["skipped"]), len(report["duplicates"])) == (30, 1, 1)
    assert "ray: 2 actor(s) × 1 CPU" in proc.stderr
    assert_same(snapshot(target), snapshot(in_process))
    assert ray_processes(ray_tmp) == []


def test_killed_worker_loses_and_duplicates_nothing(tmp_path: Path, folder: Path, in_process: Path,
                                                     ray_tmp: Path) -> None:
    target, marker = tmp_path / "coll", tmp_path / "crashed"
    proc = cli("index", str(folder), "-c", str(target), "--ray", "local", "--batch-size", "8", "--actors", "1",
               "--cpus-per-actor", "2", "--json", "-q",
               env={"RAY_TMPDIR": str(ray_tmp), "REVSEARCH_TEST_CRASH_ONCE": str(marker)})
    assert marker.exists()  # an actor really died mid-run (os._exit in its first batch)
    report = json.loads(proc.stdout)
    assert (report["indexed"], len(report["skipped"]), len(report["duplicates"])) == (30, 1, 1)
    assert_same(snapshot(target), snapshot(in_process))  # one row per file, each with the in-process outcome
    assert ray_processes(ray_tmp) == []


def test_actors_use_the_collections_input_handling(tmp_path: Path, folder: Path, in_process: Path,
                                                   ray_tmp: Path) -> None:
    reference, target, empty = tmp_path / "reference", tmp_path / "coll", tmp_path / "empty"
    cli("index", str(folder), "-c", str(reference), "--input", "letterbox", "-q")
    empty.mkdir()
    cli("index", str(empty), "-c", str(target), "--input", "letterbox", "-q")  # an existing letterbox collection
    cli("index", str(folder), "-c", str(target), "--ray", "local", "--batch-size", "8", "-q",
        env={"RAY_TMPDIR": str(ray_tmp)})
    got = snapshot(target)
    assert_same(got, snapshot(reference))
    two_views = snapshot(in_process)
    assert any(not np.allclose(row[-1], two_views[path][-1], atol=1e-3) for path, row in got.items()
               if row[-1] is not None)
    assert ray_processes(ray_tmp) == []
