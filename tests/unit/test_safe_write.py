"""Outputs are never overwritten silently, never half-written, and a full disk is reported as one."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from revsearch.errors import REPLACE_FILE, RevsearchError
from revsearch.safe_write import DiskFull, atomic_output, copy_atomic
from revsearch.uploads import save_uploads


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_refuses_an_existing_file_unless_forced(tmp_path):
    out = tmp_path / "labels.csv"
    out.write_text("precious")
    with pytest.raises(RevsearchError, match="already exists") as refused:
        with atomic_output(out) as fh:
            fh.write("new")
    assert out.read_text() == "precious" and refused.value.hint.kind == REPLACE_FILE  # the CLI says --force
    with atomic_output(out, force=True) as fh:
        fh.write("new")
    assert out.read_text() == "new" and leftovers(tmp_path) == []


def test_a_failure_midway_leaves_neither_output_nor_temp_file(tmp_path):
    out = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_file_that_appears_meanwhile_is_not_overwritten(tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(RevsearchError, match="appeared while"):
        with atomic_output(out) as fh:
            fh.write("mine")
            out.write_text("someone else's")
    assert out.read_text() == "someone else's" and leftovers(tmp_path) == []


def test_a_folder_is_not_a_file_name(tmp_path):
    with pytest.raises(RevsearchError, match="is a folder"):
        with atomic_output(tmp_path, force=True):
            pass


def test_full_disk_is_reported_as_full_and_the_partial_file_removed(small_disk):
    out = small_disk / "big.csv"
    with pytest.raises(DiskFull, match="disk is full"):
        with atomic_output(out) as fh:
            fh.write("x" * (1 << 20))
    assert list(small_disk.iterdir()) == []


def test_copy_atomic_on_a_full_disk_keeps_nothing(small_disk, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(b"\1" * (1 << 20))
    with pytest.raises(DiskFull):
        copy_atomic(source, small_disk / "copy.bin")
    assert list(small_disk.iterdir()) == []
    small = tmp_path / "small.bin"
    small.write_bytes(b"ok")
    copy_atomic(small, small_disk / "copy.bin")
    assert (small_disk / "copy.bin").read_bytes() == b"ok"


def noise_png(seed: int) -> bytes:
    """An incompressible 320×320 PNG (~300 KiB): more than the whole 256 KiB test disk."""
    pixels = np.random.default_rng(seed).integers(0, 256, (320, 320, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def test_zip_upload_on_a_full_disk_says_disk_full_not_corrupt(small_disk):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(2):
            zf.writestr(f"photos/noise-{i}.png", noise_png(i))
    buf.name = "photos.zip"
    result = save_uploads(small_disk / "files", [buf])
    assert result.saved == []
    assert len(result.rejected) == 1 and "disk is full" in result.rejected[0][1]
    assert "corrupt" not in result.rejected[0][1]
    assert [p for p in (small_disk / "files").rglob("*") if p.is_file()] == []
