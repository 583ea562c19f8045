"""Shared by the Ray and shard tests: a small real photo folder, the CLI in a subprocess, and catalog snapshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from revsearch.collection import Collection

from tests.integration.conftest import subset

REPO = Path(__file__).resolve().parents[2]


def make_folder(root: Path, per_class: int = 2) -> Path:
    """Photos from clothing-small, one exact copy (a duplicate) and one non-image (a skip)."""
    root.mkdir(parents=True)
    photos = [p for p, _ in subset(per_class)]
    for n, path in enumerate(photos):
        shutil.copy2(path, root / f"{n:03d}{path.suffix}")
    shutil.copy2(photos[0], root / "zz-copy.jpg")
    (root / "notes.jpg").write_text("not a photo")
    return root


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "revsearch", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def snapshot(directory: Path) -> dict[str, tuple]:
    """path → (status, reason, hash, size, mtime_ns, width, height, path of the original, vector or None)."""
    with Collection.open(directory) as coll:
        rows = coll.rows()
        ids, vectors = coll.vectors()
    by_id = {r.id: r.path for r in rows}
    vec = {int(i): v for i, v in zip(ids, vectors)}
    return {r.path: (r.status, r.reason, r.hash, r.size, r.mtime_ns, r.width, r.height,
                     by_id.get(r.duplicate_of), vec.get(r.id)) for r in rows}


def assert_same(a: dict[str, tuple], b: dict[str, tuple]) -> None:
    assert sorted(a) == sorted(b)
    for path in a:
        assert a[path][:-1] == b[path][:-1], path
        va, vb = a[path][-1], b[path][-1]
        assert (va is None) == (vb is None), path
        if va is not None:
            np.testing.assert_allclose(va, vb, atol=1e-5, err_msg=path)
