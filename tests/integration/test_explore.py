"""Exploration on real photos with the real model: clusters, the UMAP map, labels, suggestions, export, duplicates,
thumbnails and montages (revsearch/clusters/, projection.py, labels.py, export.py, near_duplicates.py, …)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revsearch import clusters, export, labels, montage, near_duplicates, projection, thumbnails
from revsearch.auth.users import os_user
from revsearch.collection import Collection
from revsearch.indexing import index_files, index_folder
from revsearch.errors import RevsearchError
from revsearch.search import Searcher

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "clothing-small"


def extra_photos(clothing_folder, per_class: int) -> list[tuple[Path, str]]:
    """Dataset photos that are not in `clothing_folder`: the first `per_class` of each class."""
    known = {Path(p).name for p in clothing_folder[1]}
    with open(DATASET / "labels.csv", newline="") as fh:
        rows = sorted((DATASET / r["path"], r["label"]) for r in csv.DictReader(fh))
    taken: Counter = Counter()
    out = []
    for path, label in rows:
        if path.name not in known and taken[label] < per_class:
            taken[label] += 1
            out.append((path, label))
    return out


def add_photos(coll: Collection, photos, target: Path, embedder) -> dict[str, str]:
    """Copy photos into `target/<label>/` and index them; returns path → true label."""
    truth = {}
    for path, label in photos:
        dst = target / label / path.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst)
        truth[str(dst.resolve())] = label
    report = index_files(coll, list(truth), embedder)
    assert report.indexed == len(truth)
    return truth


def truth_by_id(coll: Collection, truth: dict[str, str]) -> dict[int, str]:
    return {r.id: truth[r.path] for r in coll.rows("indexed") if r.path in truth}


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------- clusters


def test_clusters_are_stable_across_runs(tmp_path, clothing_collection_dir, clothing_folder):
    results = []
    for name in ("one", "two"):
        shutil.copytree(clothing_collection_dir, tmp_path / name)
        with Collection.open(tmp_path / name) as coll:
            result = clusters.recluster(coll, 10)
            paths = coll.paths([i for c in result.clusters for i in c.member_ids])
            results.append([(c.id, sorted(paths[i] for i in c.member_ids), round(c.cohesion, 5))
                            for c in result.clusters])
    assert results[0] == results[1]
    truth = clothing_folder[1]
    majority = sum(Counter(truth[p] for p in members).most_common(1)[0][1] for _, members, _ in results[0])
    assert majority / 120 >= 0.45  # purity on the 120-photo subset (measured 0.54)


def test_added_images_keep_cluster_ids_and_names_removed_ones_leave(fresh_collection, clothing_folder, embedder,
                                                                    tmp_path):
    coll = fresh_collection
    truth = truth_by_id(coll, clothing_folder[1])
    before = clusters.recluster(coll, 10)
    for c in before.clusters[:3]:
        labels.name_cluster(coll, c.id, Counter(truth[i] for i in c.member_ids).most_common(1)[0][0])
    names = {c.id: c.name for c in clusters.clustering(coll).clusters}
    members_before = {c.id: set(c.member_ids) for c in before.clusters}
    labelled_before = labels.labels(coll)

    new_truth = add_photos(coll, extra_photos(clothing_folder, 3), tmp_path / "more", embedder)
    after = clusters.clustering(coll)
    assert after.unassigned == 0
    assert {c.id: c.name for c in after.clusters} == names
    for c in after.clusters:
        assert members_before[c.id] <= set(c.member_ids)
    new_ids = {r.id for r in coll.rows("indexed") if r.path in new_truth}
    assert sum(c.size for c in after.clusters) == 150
    assert labels.labels(coll) == labelled_before  # joining a named cluster does not label by itself
    # most new photos land in the cluster whose old members mostly share their class
    majority_class = {c.id: Counter(truth[i] for i in members_before[c.id]).most_common(1)[0][0]
                      for c in before.clusters}
    assign = clusters.assignments(coll)
    paths = coll.paths(sorted(new_ids))
    hits = sum(majority_class[assign[i]] == new_truth[paths[i]] for i in new_ids)
    # of 30, measured 16 (letterbox input) and 17 (two views); 10 were too few to tell: 7 and 4
    assert hits >= 12, hits

    gone = sorted(members_before[0])[:4]
    coll.remove(gone)
    again = clusters.clustering(coll)
    assert not set(gone) & set(clusters.cluster(coll, 0).member_ids)
    assert {c.id: c.name for c in again.clusters} == names
    assert set(labels.labels(coll)) == set(labelled_before) - set(gone)


# ---------------------------------------------------------------------------------------------------- map


def test_umap_map_is_persisted_reused_and_extended(fresh_collection, clothing_folder, embedder, tmp_path):
    coll = fresh_collection
    seen = []
    first = projection.update_map(coll, progress=lambda done, total, msg: seen.append((done, total)))
    assert (first.action, first.method, first.points, first.fits) == ("fit", "umap", 120, 1)
    assert seen and seen[-1] == (100, 100) and len(seen) > 3  # the epochs were reported
    reducer_file = projection.reducer_path(coll)
    stamp = reducer_file.stat().st_mtime_ns
    coords = {p.id: (p.x, p.y) for p in projection.map_points(coll)}

    assert projection.update_map(coll).action == "cached"
    with Collection.open(coll.directory) as reopened:  # persisted: a new process sees the same map
        again = projection.update_map(reopened)
        assert (again.action, again.fits) == ("cached", 1)
        assert {p.id: (p.x, p.y) for p in projection.map_points(reopened)} == coords

    add_photos(coll, extra_photos(clothing_folder, 1), tmp_path / "more", embedder)  # 10 new: below the refit share
    grown = projection.update_map(coll)
    assert (grown.action, grown.placed, grown.points, grown.fits) == ("transform", 10, 130, 1)
    assert reducer_file.stat().st_mtime_ns == stamp
    points = projection.map_points(coll)
    assert len(points) == 130 and all(np.isfinite([p.x, p.y]).all() for p in points)
    assert {p.id: (p.x, p.y) for p in points if p.id in coords} == coords  # old points did not move

    before = {p.id: (p.x, p.y) for p in points}
    refit = projection.update_map(coll, force=True, seed=1)  # another layout, laid over the one it replaces
    assert (refit.action, refit.fits) == ("fit", 2)
    after = {p.id: (p.x, p.y) for p in projection.map_points(coll)}
    old, new = np.array([before[i] for i in sorted(before)]), np.array([after[i] for i in sorted(before)])
    spread = np.sqrt(((old - old.mean(axis=0)) ** 2).sum(axis=1).mean())
    moved = np.sqrt(((new - old) ** 2).sum(axis=1).mean())
    assert moved < 0.5 * spread, (moved, spread)  # groups stay about where they were


def test_tiny_real_collections_fall_back(tmp_path, clothing_folder, embedder):
    photos = sorted(Path(p) for p in clothing_folder[1])[::40]  # 3 photos
    for n, count in ((1, 1), (2, 3)):
        coll = Collection.create(tmp_path / f"c{n}", embedder.name, embedder.fingerprint, embedder.dim)
        with coll:
            index_files(coll, photos[:count], embedder)
            update = projection.update_map(coll)
            assert update.points == count and update.method == ("trivial" if count < 3 else "pca")
            assert len(projection.map_points(coll)) == count
            clusters.recluster(coll, 1)
            assert clusters.clustering(coll).clusters[0].size == count


# ---------------------------------------------------------------------------------------------------- labels


def test_suggestions_on_a_half_labelled_collection(fresh_collection, clothing_folder):
    coll = fresh_collection
    truth = truth_by_id(coll, clothing_folder[1])
    by_class: dict[str, list[int]] = {}
    for image_id, label in sorted(truth.items()):
        by_class.setdefault(label, []).append(image_id)
    for label, ids in by_class.items():
        labels.label_images(coll, ids[:6], label)
    suggestions = labels.suggest(coll)
    # calibrated: an image for which "none of the known labels" is likelier gets no suggestion (1 of 60 here)
    assert 50 <= len(suggestions) <= 60 and {s.id for s in suggestions}.isdisjoint(labels.labels(coll))
    confidences = [s.confidence for s in suggestions]
    assert confidences == sorted(confidences, reverse=True)
    correct = [truth[s.id] == s.label for s in suggestions]
    assert np.mean(correct) >= 0.55  # measured 0.65 with 6 labelled photos per class
    confident = [truth[s.id] == s.label for s in suggestions if s.confidence >= 0.7]
    assert len(confident) >= 10 and np.mean(confident) >= 0.85  # measured 18 at 0.94
    accepted = labels.accept_suggestions(coll, 0.7)
    assert accepted == len(confident)
    rows = {r.id: r for r in labels.label_rows(coll)}
    assert sum(1 for r in rows.values() if r.source == "suggestion") == accepted
    assert {s.id for s in labels.suggest(coll)}.isdisjoint(rows)  # labelled images are no longer suggested


def test_name_merge_rename_and_history(fresh_collection):
    coll = fresh_collection
    result = clusters.recluster(coll, 6)
    a, b = result.clusters[0], result.clusters[1]
    assert labels.name_cluster(coll, a.id, "tops") == a.size
    merged = labels.merge_clusters(coll, [a.id, b.id], name="upper body")
    assert merged.size == a.size + b.size and merged.name == "upper body"
    assert labels.label_counts(coll) == {"upper body": a.size + b.size}
    assert labels.rename_label(coll, "upper body", "upper") == a.size + b.size
    assert clusters.cluster(coll, a.id).name == "upper"
    kinds = Counter((h.kind, h.event) for h in labels.history(coll, limit=10_000))
    assert kinds[("image", "created")] == a.size + b.size
    assert kinds[("image", "changed")] == a.size + (a.size + b.size)  # tops → upper body, then → upper
    assert kinds[("cluster", "created")] == 1 and kinds[("cluster", "merged")] == 1
    assert kinds[("label", "renamed")] == 1
    # every entry says who (issue 20): the OS user when nobody is named
    assert {h.user for h in labels.history(coll, limit=10_000)} == {os_user()}


def test_csv_round_trip_and_relative_import(fresh_collection, clothing_collection_dir, clothing_folder, tmp_path):
    coll = fresh_collection
    clusters.recluster(coll, 5)
    labels.name_cluster(coll, 0, "group, with \"quotes\"")
    some = [r.id for r in coll.rows("indexed")][:5]
    labels.label_images(coll, some, "élan/vital")
    exported = tmp_path / "labels.csv"
    rep = export.export_csv(coll, exported)
    assert rep.written == 120
    with open(exported, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(export.CSV_COLUMNS)
    assert all(r["cluster"] != "" for r in rows)
    want = {r.path: r.label for r in labels.label_rows(coll)}

    shutil.copytree(clothing_collection_dir, tmp_path / "other")
    with Collection.open(tmp_path / "other") as other:
        result = labels.import_csv(other, exported)
        assert (result.labelled, result.unknown, result.empty) == (len(want), [], 120 - len(want))
        assert {r.path: r.label for r in labels.label_rows(other)} == want
        # the same labels with paths relative to a CSV elsewhere
        rel_dir = tmp_path / "deep" / "er"
        rel_dir.mkdir(parents=True)
        with open(rel_dir / "rel.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["label", "path"])
            for path, label in want.items():
                writer.writerow(["renamed", os.path.relpath(path, rel_dir)])
            writer.writerow(["x", "no/such/photo.jpg"])
        result = labels.import_csv(other, rel_dir / "rel.csv")
        assert result.labelled == len(want) and result.unknown == ["no/such/photo.jpg"]
        assert set(labels.labels(other).values()) == {"renamed"}

    export.export_json(coll, tmp_path / "labels.json")
    data = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert len(data["images"]) == 120 and data["labels"] == labels.label_counts(coll)
    assert {c["id"] for c in data["clusters"]} == set(range(5))


# ---------------------------------------------------------------------------------------------------- export


@pytest.fixture
def collision_collection(tmp_path, clothing_folder, embedder):
    """Real photos with a name clash (a/same.jpg, b/same.jpg), an exact copy, and an unlabelled photo."""
    photos = sorted(Path(p) for p in clothing_folder[1])
    src = tmp_path / "src"
    layout = {"a/same.jpg": photos[0], "b/same.jpg": photos[50], "c/other.jpg": photos[100], "d/copy.jpg": photos[0],
              "e/lonely.jpg": photos[70]}
    for rel, photo in layout.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(photo, src / rel)
    coll = Collection.create(tmp_path / "coll", embedder.name, embedder.fingerprint, embedder.dim)
    index_folder(coll, src, embedder)
    assert coll.counts() == {"indexed": 4, "skipped": 0, "duplicate": 1, "missing": 0}
    labels.label_images(coll, [src / "a/same.jpg", src / "b/same.jpg"], "tops/shirts")
    labels.label_images(coll, [src / "c/other.jpg"], "pants")
    yield coll, src
    coll.close()


def test_imagefolder_export_resolves_collisions_and_never_touches_originals(collision_collection, tmp_path):
    coll, src = collision_collection
    originals = {p: (file_digest(p), p.stat().st_mtime_ns) for p in src.rglob("*.jpg")}

    rep = export.export_imagefolder(coll, tmp_path / "out")
    out = tmp_path / "out"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["README.md", "dataset.json", "pants/other.jpg", "tops_shirts/copy.jpg", "tops_shirts/same-1.jpg",
                     "tops_shirts/same.jpg"]  # no split stored: the flat layout, and the dataset card at the root
    assert (rep.written, rep.labelled, rep.unlabelled_skipped, rep.renamed) == (4, 4, 1, 1)
    assert {file_digest(out / "tops_shirts/same.jpg"), file_digest(out / "tops_shirts/same-1.jpg")} == {
        originals[src / "a/same.jpg"][0], originals[src / "b/same.jpg"][0]}
    assert not any(p.is_symlink() for p in out.rglob("*"))

    linked = export.export_imagefolder(coll, tmp_path / "linked", link=True, unlabelled="folder")
    links = {str(p.relative_to(tmp_path / "linked")): p for p in (tmp_path / "linked").rglob("*.jpg")}
    assert set(links) == {"pants/other.jpg", "tops_shirts/copy.jpg", "tops_shirts/same-1.jpg",
                          "tops_shirts/same.jpg", "_unlabelled/lonely.jpg"}
    assert all(p.is_symlink() and Path(os.readlink(p)).resolve().parent.parent == src.resolve()
               for p in links.values())
    assert linked.unlabelled_written == 1

    with pytest.raises(RevsearchError, match="not empty"):
        export.export_imagefolder(coll, tmp_path / "out")

    data, zipped = export.export_zip(coll, unlabelled="folder")
    assert zipped.written == 5 and zipped.missing == []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = sorted(zf.namelist())
        listing = list(csv.DictReader(io.StringIO(zf.read("labels.csv").decode())))
    assert names == ["README.md", "_unlabelled/lonely.jpg", "dataset.json", "labels.csv", "pants/other.jpg",
                     "tops_shirts/copy.jpg", "tops_shirts/same-1.jpg", "tops_shirts/same.jpg"]
    assert {r["path"]: r["label"] for r in listing}["tops_shirts/same-1.jpg"] == "tops/shirts"

    assert {p: (file_digest(p), p.stat().st_mtime_ns) for p in src.rglob("*.jpg")} == originals


# ---------------------------------------------------------------------------------------------------- duplicates


def test_near_duplicates_find_edited_copies_and_exact_ones(fresh_collection, clothing_folder, embedder, tmp_path):
    coll = fresh_collection
    assert near_duplicates.find_duplicates(coll) == []  # 120 different photos: nothing at the default threshold
    photos = sorted(Path(p) for p in clothing_folder[1])[::30][:4]
    edited = tmp_path / "edited"
    edited.mkdir()
    made = {}
    for n, photo in enumerate(photos[:3]):
        img = Image.open(photo).convert("RGB")
        w, h = img.size
        variants = {
            f"{n}-half.png": img.resize((w // 2, h // 2)),
            f"{n}-q40.jpg": img,
            f"{n}-crop.jpg": img.crop((w // 40, h // 40, w - w // 40, h - h // 40)),
        }
        for name, im in variants.items():
            im.save(edited / name, quality=40) if name.endswith(".jpg") else im.save(edited / name)
            made[str((edited / name).resolve())] = str(photo.resolve())
    shutil.copy2(photos[3], edited / "exact.jpg")
    index_files(coll, sorted(edited.iterdir()), embedder)
    groups = near_duplicates.find_duplicates(coll)
    originals_of = {str(Path(p).resolve()): p for p in clothing_folder[1]}
    by_path = {m.path: g for g in groups for m in g.members}
    for copy, original in made.items():
        assert by_path[copy] is by_path[original], (copy, [m.path for m in by_path[copy].members])
        assert by_path[copy].min_score >= near_duplicates.default_threshold(coll)
    exact = [g for g in groups if g.exact]
    assert len(exact) == 1 and {Path(m.path).name for m in exact[0].members} == {"exact.jpg", photos[3].name}
    for g in groups:  # never two different photos of the dataset in one group
        assert sum(1 for m in g.members if m.path in originals_of) == 1
    assert len(groups) == 4


# ---------------------------------------------------------------------------------------------------- montage


def test_thumbnails_are_cached_and_montages_render(tmp_path, clothing_folder, embedder):
    photos = sorted(Path(p) for p in clothing_folder[1])[::20][:6]
    src = tmp_path / "src"
    src.mkdir()
    for p in photos:
        shutil.copy2(p, src / p.name)
    coll = Collection.create(tmp_path / "coll", embedder.name, embedder.fingerprint, embedder.dim)
    with coll:
        index_folder(coll, src, embedder)
        assert thumbnails.warm(coll) == 6 and thumbnails.warm(coll) == 0
        ids = [r.id for r in coll.rows("indexed")]
        before = thumbnails.thumbnails(coll, ids)
        shutil.rmtree(src)  # the originals are gone: thumbnails come from the cache alone
        assert thumbnails.thumbnails(coll, ids) == before and len(before) == 6
        assert all(Image.open(io.BytesIO(b)).size[0] <= 256 for b in before.values())

        hits = Searcher(coll, embedder).by_images([photos[0]], k=5)[0]
        picture = montage.query_montage(coll, photos[0], hits, cols=3, tile=96)
        assert picture.size[0] == 8 + 3 * (96 + 8) and picture.size[1] > 2 * 96
        path = montage.save_png(picture, tmp_path / "out" / "query.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        clusters.recluster(coll, 2)
        sheet = montage.cluster_montage(coll, 0, n=2, outliers=1, tile=64)
        assert sheet.size[1] > 64
        assert thumbnails.prune(coll) == 0


def test_label_quality_of_a_labelled_collection(fresh_collection, clothing_folder):
    from revsearch.evaluate import label_quality
    from revsearch.labels import label_images

    assert label_quality(fresh_collection) is None  # nothing labelled yet
    by_label: dict[str, list[str]] = {}
    for path, label in clothing_folder[1].items():
        by_label.setdefault(label, []).append(path)
    for label, paths in by_label.items():
        label_images(fresh_collection, paths, label)
    quality = label_quality(fresh_collection)
    assert quality["queries"] == 120 and quality["classes"] == 10
    assert 0.3 < quality["mAP"] < 1.0 and quality["P@1"] > quality["mAP"] * 0.8
