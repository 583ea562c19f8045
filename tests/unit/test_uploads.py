"""Uploads saved safely into a collection's files/ folder: hostile names, repeats, zips (no model needed)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from revsearch.uploads import save_uploads


class Named(io.BytesIO):
    """Like Streamlit's UploadedFile: bytes with a (possibly hostile) name."""

    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """A collection's files/ folder, two levels below anything a hostile name could reach."""
    return tmp_path / "collection" / "files"


def rels(paths: list[Path], dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest.resolve())) for p in paths)


def test_save_uploads_sanitises_names(dest, tmp_path, samples):
    uploads = [
        Named("../../evil.jpg", samples.jpeg(samples.pattern(1))),
        Named("/abs/path/x.jpg", samples.jpeg(samples.pattern(2))),
        Named("photos/2024/a.jpg", samples.jpeg(samples.pattern(3))),
        Named("photos/.DS_Store", b"junk"),
        Named("notes.txt", b"hello"),
    ]
    saved = save_uploads(dest, uploads)
    assert rels(saved.saved, dest) == ["abs/path/x.jpg", "evil.jpg", "photos/2024/a.jpg"]
    assert [name for name, _ in saved.rejected] == ["notes.txt"]
    assert all(p.resolve().is_relative_to(dest.resolve()) for p in saved.saved)
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path / "collection" / "evil.jpg").exists()
    assert not (dest / "photos" / ".DS_Store").exists() and not (dest / "notes.txt").exists()


def test_same_content_reused_other_content_renamed(dest, samples):
    one, two = samples.jpeg(samples.pattern(1)), samples.jpeg(samples.pattern(2))
    first = save_uploads(dest, [Named("a.jpg", one)])
    again = save_uploads(dest, [Named("a.jpg", one)])
    other = save_uploads(dest, [Named("a.jpg", two)])
    assert again.saved == [] and again.already_there == first.saved
    assert again.paths == first.saved  # an upload sent twice is still handed to the indexer (unchanged there)
    assert other.saved[0].name == "a-1.jpg"
    assert other.saved[0].read_bytes() == two


def test_zip_upload_is_unpacked_safely(dest, samples):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../outside.jpg", samples.jpeg(samples.pattern(1)))
        zf.writestr("inner/b.png", samples.png(samples.pattern(2)))
        zf.writestr("__MACOSX/inner/._b.png", b"junk")
        zf.writestr("readme.txt", b"not an image")
    data = buf.getvalue()
    saved = save_uploads(dest, [Named("batch.zip", data)])
    assert rels(saved.saved, dest) == ["batch/inner/b.png", "batch/outside.jpg"]
    assert [name for name, _ in saved.rejected] == ["batch.zip/readme.txt"]
    assert not any(p.name.startswith(".unzip") for p in dest.iterdir())
    again = save_uploads(dest, [Named("batch.zip", data)])  # the same zip again: nothing copied twice
    assert again.saved == [] and sorted(again.already_there) == sorted(saved.saved)


def test_bad_zip_is_rejected_with_reason(dest):
    saved = save_uploads(dest, [Named("broken.zip", b"PK\x03\x04 this is not really a zip")])
    assert saved.saved == [] and "zip" in saved.rejected[0][1]
    assert list(dest.iterdir()) == []


def test_nameless_upload_is_rejected(dest, samples):
    saved = save_uploads(dest, [Named("../..", samples.jpeg())])
    assert saved.saved == [] and saved.rejected and saved.rejected[0][1] == "no usable file name"
