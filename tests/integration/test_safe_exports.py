"""Exports never overwrite silently, never keep partial output on a full disk, and name every unreadable original."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import pytest

from revsearch import export, labels
from revsearch.cli import main
from revsearch.collection import Collection
from revsearch.errors import RevsearchError


@pytest.fixture
def labelled(fresh_collection):
    rows = fresh_collection.rows("indexed")
    labels.label_images(fresh_collection, [r.id for r in rows[:30]], "first")
    labels.label_images(fresh_collection, [r.id for r in rows[30:60]], "second")
    return fresh_collection


def test_csv_and_json_refuse_an_existing_file_unless_forced(labelled, tmp_path, capsys):
    directory = str(labelled.directory)
    labelled.close()
    for fmt in ("csv", "json"):
        out = tmp_path / f"labels.{fmt}"
        out.write_text("hours of work")
        assert main(["export", "-c", directory, "--format", fmt, "--out", str(out)]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
        assert out.read_text() == "hours of work"
        assert main(["export", "-c", directory, "--format", fmt, "--out", str(out), "--force"]) == 0
        capsys.readouterr()
        assert "first" in out.read_text() and "hours of work" not in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_zip_export_reports_every_unreadable_original(labelled, tmp_path):
    rows = [r for r in export.export_rows(labelled) if r.label is not None]
    moved = [rows[0].path, rows[5].path]
    for i, path in enumerate(moved):
        shutil.move(path, tmp_path / f"away-{i}.jpg")  # the session's shared folder: put back in `finally`
    try:
        assert sorted(export.unreadable_originals(labelled)) == sorted(moved)
        data, rep = export.export_zip(labelled)
        assert rep.written == len(rows) - 2 and sorted(m.split(" (")[0] for m in rep.missing) == sorted(moved)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert len([n for n in zf.namelist() if n.endswith(".jpg")]) == len(rows) - 2
            card = json.loads(zf.read("dataset.json"))
        assert sorted(card["unreadable"]) == sorted(rep.missing) and card["counts"]["images"] == len(rows) - 2
    finally:
        for i, path in enumerate(moved):
            shutil.move(tmp_path / f"away-{i}.jpg", path)


def test_imagefolder_export_on_a_full_disk_removes_its_partial_output(labelled, small_disk):
    out = small_disk / "dataset"
    with pytest.raises(RevsearchError, match="disk is full"):
        export.export_imagefolder(labelled, out)
    assert list(small_disk.iterdir()) == []
    # a folder the person made beforehand is kept (emptied of what the export wrote), never deleted
    out.mkdir()
    with pytest.raises(RevsearchError, match="disk is full"):
        export.export_imagefolder(labelled, out)
    assert out.is_dir() and list(out.iterdir()) == []


def test_csv_export_on_a_full_disk_leaves_no_file(small_disk, labelled):
    (small_disk / "filler").write_bytes(b"\0" * (250 * 1024))  # leave ~6 KiB: less than 60 labelled rows need
    with pytest.raises(RevsearchError, match="disk is full"):
        export.export_csv(labelled, small_disk / "labels.csv")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
    assert Collection.exists(labelled.directory)
