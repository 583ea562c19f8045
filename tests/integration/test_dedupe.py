"""Acting on duplicates: "not a duplicate" is remembered, the redundant copies' CSV, moving them aside and undo."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from revsearch import clusters, dedupe, labels, near_duplicates
from revsearch.collection import Collection
from revsearch.indexing import index_folder
from revsearch.errors import RevsearchError


@pytest.fixture
def with_copies(tmp_path: Path, clothing_folder, embedder) -> tuple[Collection, Path, Path]:
    """8 photos, plus an exact copy and a resized copy of the first: one group of three. (coll, original, folder)"""
    folder = tmp_path / "photos"
    sources = sorted(clothing_folder[0].rglob("*.jpg"))[::15][:8]
    for src in sources:
        (folder / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, folder / src.parent.name / src.name)
    original = folder / sources[0].parent.name / sources[0].name
    (folder / "copies").mkdir()
    shutil.copy2(original, folder / "copies" / "exact.jpg")
    with Image.open(original) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(folder / "copies" / "smaller.jpg", quality=85)
    coll = Collection.create(tmp_path / "coll", embedder.name, embedder.fingerprint, embedder.dim)
    index_folder(coll, folder, embedder)
    clusters.recluster(coll, 2)
    yield coll, original, folder
    coll.close()


def names(group) -> list[str]:
    return sorted(Path(m.path).name for m in group.members)


def test_not_a_duplicate_is_remembered(with_copies):
    coll, original, folder = with_copies
    [group] = near_duplicates.find_duplicates(coll)
    assert names(group) == sorted([original.name, "exact.jpg", "smaller.jpg"])
    smaller = next(m for m in group.members if m.path.endswith("smaller.jpg"))
    exact = next(m for m in group.members if m.exact)
    with pytest.raises(RevsearchError, match="exact copy"):
        dedupe.not_a_duplicate(coll, exact.id, group)
    assert near_duplicates.dismissed_pairs(coll) == 0
    marked = dedupe.not_a_duplicate(coll, smaller.id, group)
    assert marked >= 1 and near_duplicates.dismissed_pairs(coll) == marked
    coll.close()
    reopened = Collection.open(coll.directory)  # remembered in the collection, not in memory
    [group] = near_duplicates.find_duplicates(reopened)
    assert names(group) == sorted([original.name, "exact.jpg"])
    reopened.close()


def test_redundant_csv_keeps_the_anchor(with_copies):
    coll, original, _ = with_copies
    groups = near_duplicates.find_duplicates(coll)
    rows = list(csv.DictReader(io.StringIO(dedupe.redundant_csv(groups))))
    assert len(rows) == 2 and {r["keep"] for r in rows} == {groups[0].members[0].path}
    assert {r["redundant"] for r in rows} == {m.path for m in groups[0].members[1:]}
    assert {r["exact"] for r in rows} <= {"yes", "no"}


def test_move_then_undo_restores_files_rows_vectors_and_labels(with_copies, tmp_path):
    coll, original, folder = with_copies
    groups = near_duplicates.find_duplicates(coll)
    copies = dedupe.redundant(groups)
    labels.label_images(coll, [c.id for c in copies], "copy")
    before = {p: Path(p).read_bytes() for p in (c.path for c in copies)}
    n_before = coll.counts()
    aside = tmp_path / "aside"
    (aside).mkdir()
    (aside / Path(copies[0].path).name).write_bytes(b"already here")  # never overwritten
    record = dedupe.move_redundant(coll, groups, aside)
    assert record.moved == 2 and not record.failed
    assert all(not Path(p).exists() for p in before)
    assert (aside / Path(copies[0].path).name).read_bytes() == b"already here"
    assert sorted(Path(e["to"]).read_bytes() for e in record.entries) == sorted(before.values())
    assert near_duplicates.find_duplicates(coll) == []
    assert sum(coll.counts().values()) == sum(n_before.values()) - 2
    assert Path(groups[0].members[0].path).exists()  # the kept copy (the anchor) never moves

    again = dedupe.last_move(coll)
    assert again is not None and again.path == record.path
    restored, problems = dedupe.undo_move(coll, again)
    assert (restored, problems) == (2, [])
    assert {p: Path(p).read_bytes() for p in before} == before
    assert coll.counts() == n_before
    [group] = near_duplicates.find_duplicates(coll)
    assert names(group) == sorted([original.name, "exact.jpg", "smaller.jpg"])
    saved = labels.labels(coll)
    assert sorted(saved[coll.by_path(p).id] for p in before) == ["copy", "copy"]
    assert dedupe.last_move(coll) is None


def test_undo_never_overwrites_a_file_that_came_back(with_copies, tmp_path):
    coll, _, _ = with_copies
    groups = near_duplicates.find_duplicates(coll)
    record = dedupe.move_redundant(coll, groups, tmp_path / "aside")
    back = Path(record.entries[0]["from"])
    back.write_bytes(b"new file")
    restored, problems = dedupe.undo_move(coll, record)
    assert restored == 1 and problems[0][0] == str(back) and "nothing was overwritten" in problems[0][1]
    assert back.read_bytes() == b"new file"
    left = dedupe.last_move(coll)
    assert left is not None and [e["from"] for e in left.entries] == [str(back)]


def test_move_needs_a_full_path_and_something_to_move(with_copies):
    coll, _, _ = with_copies
    groups = near_duplicates.find_duplicates(coll)
    with pytest.raises(RevsearchError, match="full path"):
        dedupe.move_redundant(coll, groups, "relative/folder")
    with pytest.raises(RevsearchError, match="no redundant copies"):
        dedupe.move_redundant(coll, [], "/tmp/x")
