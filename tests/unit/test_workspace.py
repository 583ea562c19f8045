"""The app's workspace: data directory, collections, safe upload saving (no model needed: vectors are not made here)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from revsearch.errors import RevsearchError
from revsearch.workspace import (DATA_ENV, DEMO_ENV, ProgressText, Workspace, data_dir, demo_source,
                                 format_duration, slugify)


@dataclass
class ModelStub:
    """Only what Collection.create records; no embedding happens in these tests."""

    name: str = "efficientnet_lite0"
    fingerprint: str = "f" * 32
    dim: int = 8


class Named(io.BytesIO):
    """Like Streamlit's UploadedFile: bytes with a (possibly hostile) name."""

    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "data")


def test_data_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "x"))
    assert data_dir() == tmp_path / "x"
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "revsearch"
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("XDG_DATA_HOME")
    assert not data_dir().resolve().is_relative_to(repo)


def test_demo_source_switch(monkeypatch, tmp_path):
    monkeypatch.delenv(DEMO_ENV, raising=False)
    assert demo_source() is not None and (demo_source() / "dress").is_dir()
    monkeypatch.setenv(DEMO_ENV, "off")
    assert demo_source() is None
    monkeypatch.setenv(DEMO_ENV, str(tmp_path))
    assert demo_source() == tmp_path


def test_create_list_delete(ws):
    assert ws.list() == []
    a = ws.create("Holiday photos", ModelStub())
    b = ws.create("  Shoes   2024 ", ModelStub())
    assert a.slug == "holiday-photos" and a.name == "Holiday photos"
    assert b.name == "Shoes 2024" and b.files_dir.is_dir()
    assert [c.slug for c in ws.list()] == ["holiday-photos", "shoes-2024"]
    with pytest.raises(RevsearchError, match="already exists"):
        ws.create("holiday PHOTOS", ModelStub())
    with pytest.raises(RevsearchError, match="name"):
        ws.create("   ", ModelStub())
    ws.delete("holiday-photos")
    assert [c.slug for c in ws.list()] == ["shoes-2024"]
    assert not (ws.collections_dir / "holiday-photos").exists()
    with pytest.raises(RevsearchError):
        ws.delete("holiday-photos")


def test_slug_is_never_a_path(ws):
    for bad in ("../x", "/etc", "a/b", "", ".."):
        with pytest.raises(RevsearchError):
            ws.directory(bad)
    assert slugify("Été à Paris!") == "ete-a-paris"
    assert slugify("日本") == "collection"


def test_same_slug_gets_suffix(ws):
    ws.create("a b", ModelStub())
    assert ws.create("a-b", ModelStub()).slug == "a-b-2"


def test_save_uploads_sanitises_names(ws, samples):
    info = ws.create("c", ModelStub())
    jpeg = samples.jpeg(samples.pattern(1))
    uploads = [
        Named("../../evil.jpg", jpeg),
        Named("/abs/path/x.jpg", samples.jpeg(samples.pattern(2))),
        Named("photos/2024/a.jpg", samples.jpeg(samples.pattern(3))),
        Named("photos/.DS_Store", b"junk"),
        Named("notes.txt", b"hello"),
    ]
    saved = ws.save_uploads(info.slug, uploads)
    rels = sorted(str(p.relative_to(info.files_dir.resolve())) for p in saved.saved)
    assert rels == ["abs/path/x.jpg", "evil.jpg", "photos/2024/a.jpg"]
    assert [name for name, _ in saved.rejected] == ["notes.txt"]
    assert all(p.resolve().is_relative_to(info.files_dir.resolve()) for p in saved.saved)
    assert not (ws.root / "evil.jpg").exists()


def test_same_content_reused_other_content_renamed(ws, samples):
    info = ws.create("c", ModelStub())
    one, two = samples.jpeg(samples.pattern(1)), samples.jpeg(samples.pattern(2))
    first = ws.save_uploads(info.slug, [Named("a.jpg", one)])
    again = ws.save_uploads(info.slug, [Named("a.jpg", one)])
    other = ws.save_uploads(info.slug, [Named("a.jpg", two)])
    assert again.saved == [] and again.already_there == first.saved
    assert other.saved[0].name == "a-1.jpg"
    assert other.saved[0].read_bytes() == two


def test_zip_upload_is_unpacked_safely(ws, samples):
    info = ws.create("c", ModelStub())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../outside.jpg", samples.jpeg(samples.pattern(1)))
        zf.writestr("inner/b.png", samples.png(samples.pattern(2)))
        zf.writestr("__MACOSX/inner/._b.png", b"junk")
        zf.writestr("readme.txt", b"not an image")
    saved = ws.save_uploads(info.slug, [Named("batch.zip", buf.getvalue())])
    rels = sorted(str(p.relative_to(info.files_dir.resolve())) for p in saved.saved)
    assert rels == ["batch/inner/b.png", "batch/outside.jpg"]
    assert [name for name, _ in saved.rejected] == ["batch.zip/readme.txt"]
    assert not any(p.name.startswith(".unzip") for p in info.files_dir.iterdir())


def test_bad_zip_is_rejected_with_reason(ws):
    info = ws.create("c", ModelStub())
    saved = ws.save_uploads(info.slug, [Named("broken.zip", b"PK\x03\x04 this is not really a zip")])
    assert saved.saved == [] and "zip" in saved.rejected[0][1]


def test_add_folder_validates_path(ws, tmp_path):
    info = ws.create("c", ModelStub())
    with pytest.raises(RevsearchError, match="not found"):
        ws.add_folder(info.slug, tmp_path / "nope", ModelStub())  # type: ignore[arg-type]
    with pytest.raises(RevsearchError, match="absolute"):
        ws.add_folder(info.slug, "relative/photos", ModelStub())  # type: ignore[arg-type]
    with pytest.raises(RevsearchError, match="data directory"):
        ws.add_folder(info.slug, tmp_path, ModelStub())  # type: ignore[arg-type]
    with pytest.raises(RevsearchError, match="enter the path"):
        ws.add_folder(info.slug, "  ", ModelStub())  # type: ignore[arg-type]


def test_progress_text_eta():
    clock = iter([0.0, 5.0, 20.0, 20.0]).__next__
    text = ProgressText(clock=clock)
    assert text(0, 0, "scanning") == (0.0, "scanning")
    fraction, line = text(20, 80)
    assert fraction == 0.25 and line == "20 / 80 images · 1.0 /s · about 1 min 00 s left"
    assert text(80, 80)[1] == "80 / 80 images · 4.0 /s"
    assert format_duration(3725) == "1 h 02 min"
