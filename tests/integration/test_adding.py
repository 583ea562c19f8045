"""add_images: one backend call indexes, prepares the pages, and keeps the thumbnail cache to what is live.

Real model (efficientnet_lite0), real files: a handful of generated images, so each test runs in seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from revsearch import clusters, projection, thumbnails
from revsearch.collection import Collection
from revsearch.indexing.adding import EMBEDDING, MAP, PHASES, THUMB_SIZES, add_images, initial_k
from revsearch.workspace import DEMO_ENV, Workspace, add_local_folder, build_demo

N = 8


@pytest.fixture
def folder(tmp_path: Path, samples) -> Path:
    """N distinct generated JPEGs, two of them in a subfolder, and one file that is not an image."""
    root = tmp_path / "photos"
    for i in range(N):
        path = root / ("sub" if i < 2 else "") / f"img{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(samples.jpeg(samples.pattern(i, (96, 72))))
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def coll(tmp_path: Path, embedder) -> Collection:
    c = Collection.create(tmp_path / "coll", embedder.name, embedder.fingerprint, embedder.dim)
    yield c
    c.close()


def thumb_files(coll: Collection) -> set[str]:
    return {p.name for p in (coll.directory / thumbnails.THUMB_DIR).glob("*/*.jpg")}


def live_thumbs(coll: Collection) -> set[str]:
    """The thumbnail file names every live image should have, from the catalog's public rows."""
    hashes = {r.hash for r in coll.rows() if r.status != "skipped" and r.hash}
    return {thumbnails.thumb_path(coll, h, size).name for h in hashes for size in THUMB_SIZES}


def test_add_folder_indexes_then_prepares_every_page(coll, folder, embedder):
    seen: dict[str, int] = {}

    def phases(name: str):
        def update(done: int, total: int, message: str) -> None:
            seen[name] = seen.get(name, 0) + 1
        return update

    added = add_images(coll, folder, embedder, phases)
    assert (added.report.indexed, len(added.report.skipped)) == (N, 1)
    assert coll.counts()["indexed"] == N
    assert added.prepared["thumbnails"] == N * len(THUMB_SIZES) and thumb_files(coll) == live_thumbs(coll)
    assert added.prepared["clusters"] == initial_k(N)
    assert "pruned" not in added.prepared  # nothing left the collection
    clustering = clusters.clustering(coll, n_representatives=0, n_outliers=0)
    assert clustering is not None and sum(c.size for c in clustering.clusters) == N
    assert len(projection.map_points(coll, update=False)) == N
    assert set(seen) == set(PHASES) and seen[EMBEDDING] and seen[MAP]
    assert coll.index().ntotal == N  # the search index on disk is fresh

    again = add_images(coll, folder, embedder, phases)  # nothing new: nothing made, the clustering kept
    assert (again.report.indexed, again.report.unchanged) == (0, N + 1)
    assert again.prepared["thumbnails"] == 0 and again.prepared["assigned"] == 0
    assert again.prepared["map"] == "cached"


def test_sync_prunes_thumbnails_of_removed_and_changed_files(coll, folder, embedder, samples):
    add_images(coll, folder, embedder)
    gone = {coll.by_path(folder / "sub" / "img0.jpg").hash, coll.by_path(folder / "img5.jpg").hash}
    changed = folder / "img6.jpg"
    old_hash = coll.by_path(changed).hash
    (folder / "sub" / "img0.jpg").unlink()
    (folder / "img5.jpg").unlink()
    changed.write_bytes(samples.jpeg(samples.pattern(99, (96, 72))))

    added = add_images(coll, folder, embedder, prepare=False, prune=True)
    assert (added.report.missing, added.report.removed, added.report.updated) == (2, 2, 1)
    assert added.prepared == {"pruned": 3 * len(THUMB_SIZES), "assigned": 1}  # the changed file joins its cluster
    left = thumb_files(coll)
    assert not any(name.startswith(h) for h in gone | {old_hash} for name in left)
    assert left == live_thumbs(coll) - {thumbnails.thumb_path(coll, coll.by_path(changed).hash, s).name
                                        for s in THUMB_SIZES}  # the changed file's new thumbnail: not made yet

    again = add_images(coll, folder, embedder)  # preparing makes the missing ones and keeps the clusters
    assert thumb_files(coll) == live_thumbs(coll)
    assert again.prepared["thumbnails"] == len(THUMB_SIZES) and "assigned" in again.prepared


def test_pruning_keeps_content_still_held_by_a_duplicate(coll, folder, embedder):
    shutil.copy2(folder / "img3.jpg", folder / "copy_of_img3.jpg")
    add_images(coll, folder, embedder)
    (folder / "img3.jpg").unlink()  # the original goes; its copy inherits the vector and the thumbnail
    added = add_images(coll, folder, embedder, prepare=False, prune=True)
    assert added.report.removed == 1 and added.prepared["pruned"] == 0
    assert thumb_files(coll) == live_thumbs(coll)


def test_added_files_do_not_remove_others_and_prepare_is_optional(coll, folder, embedder):
    files = sorted(folder.glob("*.jpg"))[:3]
    added = add_images(coll, files, embedder, prepare=False)
    assert added.report.indexed == 3 and added.prepared == {}
    assert thumb_files(coll) == set() and clusters.clustering(coll) is None
    more = add_images(coll, sorted(folder.glob("*.jpg"))[3:], embedder)
    assert more.report.removed == 0 and coll.counts()["indexed"] == N - 2  # sub/ was never given
    assert thumb_files(coll) == live_thumbs(coll)


def test_empty_collection_prepares_nothing(coll, tmp_path, embedder):
    (tmp_path / "empty").mkdir()
    added = add_images(coll, tmp_path / "empty", embedder)
    assert added.report.indexed == 0 and added.prepared == {}


def test_workspace_flow_local_folder_demo_and_delete(tmp_path, folder, embedder, monkeypatch):
    ws = Workspace(tmp_path / "data")
    info = ws.create("Mine", embedder)
    added = add_local_folder(ws, info.slug, str(folder), embedder)
    assert added.report.indexed == N and ws.info(info.slug).sources == [str(folder.resolve())]
    with ws.open(info.slug) as coll:
        assert thumb_files(coll) == live_thumbs(coll) != set()

    demo_photos = tmp_path / "demo"
    shutil.copytree(folder / "sub", demo_photos / "sub")
    monkeypatch.setenv(DEMO_ENV, str(demo_photos))
    demo, built = build_demo(ws, embedder)
    assert demo.demo and demo.counts["indexed"] == 2 and built.prepared["clusters"] == 2
    assert not ws.demo_needed()

    ws.delete(info.slug)  # the collection's thumbnail cache goes with it; the indexed folder stays
    assert not (ws.directory(info.slug)).exists() and not list(ws.root.rglob(f"*/{info.slug}/thumbs"))
    assert sorted(p.name for p in folder.rglob("*.jpg")) == sorted(f"img{i}.jpg" for i in range(N))
