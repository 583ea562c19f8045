"""The app's workspace: data directory, collections, local folders, the demo's photos (no model: nothing embedded)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from revsearch import busy
from revsearch.errors import RevsearchError
from revsearch.workspace import DATA_ENV, DEMO_ENV, DEMO_SLUG, Workspace, data_dir, demo_source, slugify


@dataclass
class ModelStub:
    """Only what Collection.create records; no embedding happens in these tests."""

    name: str = "efficientnet_lite0"
    fingerprint: str = "f" * 32
    dim: int = 8
    input_mode: str = "letterbox+native"
    precision: str = "fp32"


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


def test_local_folder_validates_path(ws, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"x")
    with pytest.raises(RevsearchError, match="not found"):
        ws.local_folder(tmp_path / "nope")
    with pytest.raises(RevsearchError, match="absolute"):
        ws.local_folder("relative/photos")
    with pytest.raises(RevsearchError, match="data directory"):
        ws.local_folder(tmp_path)  # holds the data directory
    ws.ensure_root()
    with pytest.raises(RevsearchError, match="inside the revsearch data directory"):
        ws.local_folder(ws.collections_dir)
    with pytest.raises(RevsearchError, match="enter the path"):
        ws.local_folder("  ")
    with pytest.raises(RevsearchError, match="not a folder"):
        ws.local_folder(photos / "a.jpg")
    with pytest.raises(RevsearchError, match="whole disk"):
        ws.local_folder("/")
    assert ws.local_folder(f' "{photos}" ') == photos.resolve()


def test_sources_are_remembered_once(ws, tmp_path):
    info = ws.create("c", ModelStub())
    ws.add_source(info.slug, tmp_path / "photos")
    ws.add_source(info.slug, tmp_path / "photos")
    assert ws.info(info.slug).sources == [str(tmp_path / "photos")]


def test_demo_photos_copied_once_and_built_flag(ws, monkeypatch, tmp_path, samples):
    source = tmp_path / "demo"
    (source / "hats").mkdir(parents=True)
    (source / "hats" / "a.jpg").write_bytes(samples.jpeg(samples.pattern(1)))
    (source / ".hidden.jpg").write_bytes(b"x")
    (source / "LICENSE").write_text("CC0")
    monkeypatch.setenv(DEMO_ENV, str(source))
    assert ws.demo_needed()
    info = ws.copy_demo(ModelStub())  # type: ignore[arg-type]
    assert info.slug == DEMO_SLUG and info.demo and ws.list()[0].slug == DEMO_SLUG
    assert sorted(str(p.relative_to(info.files_dir)) for p in info.files_dir.rglob("*") if p.is_file()) == [
        "hats/a.jpg"]
    assert ws.copy_demo(ModelStub()).slug == DEMO_SLUG  # type: ignore[arg-type]  # resumes, no second demo
    copied = info.files_dir / "hats" / "a.jpg"
    copied.write_bytes(copied.read_bytes()[:100])  # what a build killed mid-copy left behind before
    ws.copy_demo(ModelStub())  # type: ignore[arg-type]
    assert copied.read_bytes() == (source / "hats" / "a.jpg").read_bytes()
    assert not [p for p in info.files_dir.rglob(".*")]  # no temporary copies left
    assert ws.demo_needed()  # copied is not built: the next start resumes
    ws.mark_demo_built()
    assert not ws.demo_needed()
    ws.delete(DEMO_SLUG)
    assert not ws.demo_needed()  # a deleted demo is not rebuilt on its own
    monkeypatch.setenv(DEMO_ENV, str(tmp_path / "missing"))
    with pytest.raises(RevsearchError, match="demo photos not found"):
        ws.copy_demo(ModelStub())  # type: ignore[arg-type]
    monkeypatch.setenv(DEMO_ENV, "off")
    with pytest.raises(RevsearchError, match="no demo folder"):
        ws.copy_demo(ModelStub())  # type: ignore[arg-type]


def test_a_collection_being_indexed_says_so_and_cannot_be_deleted(ws):
    info = ws.create("Busy", ModelStub())
    assert not info.indexing
    with busy.indexing(info.directory):
        assert ws.info("busy").indexing and "indexing" in ws.info("busy").label
        with pytest.raises(RevsearchError, match="being indexed"):
            ws.delete("busy")
        assert [c.slug for c in ws.list()] == ["busy"]  # untouched, no trash left beside it
        assert [p.name for p in ws.collections_dir.iterdir()] == ["busy"]
    assert not ws.info("busy").indexing
    ws.delete("busy")
    assert ws.list() == []


def test_a_killed_indexing_run_does_not_leave_the_collection_stuck(ws):
    """The mark is a lock held by the indexing process: when that process dies, so does the mark."""
    info = ws.create("Killed", ModelStub())
    code = ("import sys, time; from revsearch import busy\n"
            "with busy.indexing(sys.argv[1]):\n    print('locked', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(info.directory)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert ws.info("killed").indexing
        with pytest.raises(RevsearchError, match="being indexed"):
            ws.delete("killed")
    finally:
        proc.kill()
        proc.wait()
    assert (info.directory / busy.LOCK_FILE).exists()  # the file stays; without a lock on it, it means nothing
    assert not ws.info("killed").indexing
    ws.delete("killed")
    assert ws.list() == []
