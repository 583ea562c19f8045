"""Clusters, map, labels, suggestions, duplicates and export naming on small synthetic collections (no model).

Vectors are made by hand (unit vectors around chosen centres) and written to a real catalog, so every edge case —
one image, two images, a removed image, an exact copy — is cheap and exact. The real-photo behaviour is covered by
tests/integration/test_explore.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from revsearch import clusters, export, labels, near_duplicates, projection
from revsearch.collection import Collection, NewRow, cluster_store, duplicate_store
from revsearch.errors import RevsearchError

DIM = 16


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def blobs(n_per: int, n_centres: int, spread: float = 0.15, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(DIM, dtype=np.float32)[:n_centres]
    return unit(np.concatenate([c + spread * rng.standard_normal((n_per, DIM)) for c in centres]))


def add(coll: Collection, vectors: np.ndarray, prefix: str = "img") -> list[int]:
    """Index rows with the given vectors (paths under the collection dir; files need not exist)."""
    start = sum(coll.counts().values())
    rows = [NewRow(str(coll.directory / "photos" / f"{prefix}{start + n:04d}.jpg"), f"h{prefix}{start + n}", 1, 1)
            for n in range(len(vectors))]
    return coll.add_rows(rows, vectors)


def add_exact_copy(coll: Collection, original: int, name: str = "copy.jpg") -> int:
    row = NewRow(str(coll.directory / "photos" / name), coll.get(original).hash, 1, 1, status="duplicate",
                 duplicate_of=original)
    return coll.add_rows([row])[0]


@pytest.fixture
def coll(tmp_path: Path):
    c = Collection.create(tmp_path / "c", "synthetic", "fp", DIM)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------------- clusters


def test_kmeans_is_deterministic_and_numbered_by_size(coll):
    vecs = blobs(10, 3)
    add(coll, np.concatenate([vecs, blobs(5, 4, seed=3)[15:]]))  # centre 3 gets 5 points only
    a = clusters.recluster(coll, 4)
    b = clusters.recluster(coll, 4)
    assert [c.member_ids for c in a.clusters] == [c.member_ids for c in b.clusters]
    assert [c.size for c in a.clusters] == [10, 10, 10, 5]
    assert [c.id for c in a.clusters] == [0, 1, 2, 3]
    for c in a.clusters:
        assert 0.8 < c.cohesion <= 1.0
        sims = [m.similarity for m in c.representatives]
        assert sims == sorted(sims, reverse=True)
        assert c.outliers == [] or c.outliers[0].similarity <= c.representatives[-1].similarity


def test_new_images_join_existing_clusters_and_removed_ones_leave(coll):
    first = add(coll, blobs(8, 3))
    before = clusters.recluster(coll, 3)
    labels.name_cluster(coll, 1, "cats")
    centroid_before = cluster_store.centroids(coll)[1].copy()
    members_of = {c.id: set(c.member_ids) for c in before.clusters}
    centre_of_1 = int(np.argmax(coll.vectors([min(members_of[1])])[1][0]))

    new = add(coll, blobs(2, 3, seed=9), prefix="new")  # two more near every centre
    after = clusters.clustering(coll)
    assert after.unassigned == 0
    assert [c.id for c in after.clusters] == [0, 1, 2]
    assert clusters.cluster(coll, 1).name == "cats"
    np.testing.assert_array_equal(cluster_store.centroids(coll)[1], centroid_before)
    for c in after.clusters:
        assert members_of[c.id] <= set(c.member_ids)  # nobody moved
    assign = clusters.assignments(coll)
    new_vecs = coll.vectors(new)[1]
    for image_id, v in zip(new, new_vecs):  # each new image sits with the old images of its centre
        if int(np.argmax(v)) == centre_of_1:
            assert assign[image_id] == 1
    assert sum(c.size for c in after.clusters) == len(first) + len(new)

    gone = sorted(members_of[1])[:3]
    coll.remove(gone)
    again = clusters.clustering(coll)
    assert not set(gone) & set(clusters.cluster(coll, 1).member_ids)
    assert clusters.cluster(coll, 1).size == len(members_of[1]) + 2 - 3


def test_recluster_keeps_names_of_matching_clusters(coll):
    add(coll, blobs(8, 3))
    first = clusters.recluster(coll, 3)
    for c in first.clusters:
        labels.name_cluster(coll, c.id, f"name{c.id}")
    second = clusters.recluster(coll, 3, seed=5)
    assert sorted(c.name for c in second.clusters) == ["name0", "name1", "name2"]
    for c in second.clusters:  # the name went with the members
        old = next(o for o in first.clusters if f"name{o.id}" == c.name)
        assert set(old.member_ids) == set(c.member_ids)


def test_merge_clusters(coll):
    add(coll, blobs(6, 3))
    clusters.recluster(coll, 3)
    labels.name_cluster(coll, 2, "two")
    merged = labels.merge_clusters(coll, [0, 2], name="both")
    assert merged.id == 0 and merged.size == 12 and merged.name == "both"
    assert [c.id for c in clusters.clustering(coll).clusters] == [0, 1]
    assert set(labels.labels(coll).values()) == {"both"}
    with pytest.raises(RevsearchError, match="no cluster 2"):
        clusters.members(coll, 2)
    with pytest.raises(RevsearchError, match="at least two"):
        labels.merge_clusters(coll, [0])


def test_suggest_k_reports_every_score_and_prefers_k_of_3_or_more(coll):
    add(coll, blobs(12, 4, spread=0.1))
    s = clusters.suggest_k(coll, ks=range(2, 8))
    assert set(s.scores) == set(range(2, 8))
    assert s.best == 4
    assert s.sample_size == 48


def test_clusters_errors(coll):
    with pytest.raises(RevsearchError, match="no indexed images"):
        clusters.recluster(coll, 2)
    assert clusters.clustering(coll) is None
    add(coll, blobs(2, 1))
    with pytest.raises(RevsearchError, match="more than the 2 indexed"):
        clusters.recluster(coll, 3)
    with pytest.raises(RevsearchError, match="no clusters yet"):
        clusters.members(coll, 0)
    assert clusters.recluster(coll, 1).clusters[0].size == 2


# ---------------------------------------------------------------------------------------------------- map


@pytest.mark.parametrize("n, method", [(1, "trivial"), (2, "trivial"), (3, "pca"), (19, "pca")])
def test_tiny_collections_get_a_map_without_umap(coll, n, method):
    add(coll, blobs(n, 1, spread=0.5))
    update = projection.update_map(coll)
    assert (update.action, update.method, update.points) == ("fit", method, n)
    points = projection.map_points(coll)
    assert len(points) == n and all(np.isfinite([p.x, p.y]).all() for p in points)
    assert not projection.reducer_path(coll).exists()
    assert projection.update_map(coll).action == "cached"


def test_empty_collection_map_and_small_map_refits_on_change(coll):
    assert projection.update_map(coll).action == "empty"
    assert projection.map_points(coll) == []
    ids = add(coll, blobs(5, 1, spread=0.5))
    assert projection.update_map(coll).fits == 1
    add(coll, blobs(1, 1, seed=4))
    update = projection.update_map(coll)
    assert (update.action, update.points, update.fits) == ("fit", 6, 2)
    coll.remove(ids[:1])
    assert len(projection.map_points(coll)) == 5


# ---------------------------------------------------------------------------------------------------- labels


def test_labels_history_rename_unlabel_and_copies(coll):
    ids = add(coll, blobs(4, 1))
    copy = add_exact_copy(coll, ids[0])
    assert labels.label_images(coll, ids[:2], "cat") == 3  # the exact copy too
    assert labels.labels(coll)[copy] == "cat"
    assert labels.label_images(coll, ids[:2], "cat") == 0
    assert labels.label_images(coll, [Path(coll.get(ids[2]).path)], " dog ") == 1
    assert labels.rename_label(coll, "cat", "kitten") == 3
    assert labels.label_counts(coll) == {"kitten": 3, "dog": 1}
    assert labels.unlabel_images(coll, [ids[0]]) == 2
    events = [(h.event, h.old, h.new) for h in reversed(labels.history(coll))]
    assert events[:4] == [("created", None, "cat")] * 3 + [("created", None, "dog")]
    assert ("renamed", "cat", "kitten") in events
    assert events[-2:] == [("removed", "kitten", None)] * 2
    with pytest.raises(RevsearchError, match="not in this collection"):
        labels.label_images(coll, [999, "/nope.jpg"], "x")
    with pytest.raises(RevsearchError, match="empty"):
        labels.label_images(coll, ids[:1], "  ")
    with pytest.raises(RevsearchError, match="no image or cluster is labelled"):
        labels.rename_label(coll, "zebra", "x")


def test_suggestions_vote_and_need_close_neighbours(coll):
    ids = add(coll, blobs(10, 3, spread=0.1))
    labels.label_images(coll, ids[0:5], "a")
    labels.label_images(coll, ids[10:15], "b")
    by_id = {s.id: s for s in labels.suggest(coll, k=5)}
    assert {by_id[i].label for i in ids[5:10]} == {"a"}
    assert {by_id[i].label for i in ids[15:20]} == {"b"}
    assert min(by_id[i].confidence for i in ids[5:10]) > 0.9
    # centre 2 has no labelled neighbour near it: "none of the known labels" wins, so it gets no suggestion
    assert all(i not in by_id or by_id[i].confidence < 0.5 for i in ids[20:30])
    confident = {s.id: s.label for s in by_id.values() if s.confidence >= 0.9}
    assert set(ids[5:10]) <= set(confident) and set(confident) <= set(ids[5:10] + ids[15:20])
    assert labels.accept_suggestions(coll, 0.9) == len(confident)
    assert labels.label_counts(coll) == {"a": 10, "b": 5 + sum(1 for lab in confident.values() if lab == "b")}
    assert {r.source for r in labels.label_rows(coll) if r.id in ids[5:10]} == {"suggestion"}
    with pytest.raises(RevsearchError):
        labels.accept_suggestions(coll, 1.5)


def test_import_csv_resolves_relative_paths_and_reports_unknown(coll, tmp_path):
    ids = add(coll, blobs(3, 1))
    rows = [coll.get(i).path for i in ids]
    csv_dir = coll.directory / "photos"
    csv_dir.mkdir(parents=True)
    csv_file = csv_dir / "labels.csv"
    csv_file.write_text("path,label\n"
                        f"{Path(rows[0]).name},red\n"             # relative to the CSV's folder
                        f"{rows[1]},blue\n"                        # absolute
                        f"{Path(rows[2]).name},\n"                 # no label: ignored
                        "elsewhere/ghost.jpg,green\n", encoding="utf-8")
    report = labels.import_csv(coll, csv_file)
    assert (report.rows, report.labelled, report.empty, report.unknown) == (4, 2, 1, ["elsewhere/ghost.jpg"])
    assert labels.labels(coll) == {ids[0]: "red", ids[1]: "blue"}
    assert labels.import_csv(coll, csv_file).unchanged == 2


# ---------------------------------------------------------------------------------------------------- duplicates


def test_near_duplicate_groups_are_connected_components_with_exact_copies(coll):
    rng = np.random.default_rng(1)
    a = unit(rng.standard_normal(DIM))
    a1 = unit(a + 0.12 * unit(rng.standard_normal(DIM)))
    a2 = unit(a1 + 0.12 * unit(rng.standard_normal(DIM)))  # close to a1, less close to a
    b = unit(rng.standard_normal(DIM))
    ids = add(coll, np.stack([a, a1, a2, b]))
    copy = add_exact_copy(coll, ids[3])
    threshold = float(min(a @ a1, a1 @ a2)) - 1e-3
    groups = near_duplicates.find_duplicates(coll, threshold)
    near = [g for g in groups if not g.exact]
    exact = [g for g in groups if g.exact]
    assert len(near) == 1 and {m.id for m in near[0].members} == set(ids[:3])
    assert near[0].min_score == pytest.approx(threshold + 1e-3, abs=1e-4)
    assert len(exact) == 1 and {m.id for m in exact[0].members} == {ids[3], copy}
    assert next(m for m in exact[0].members if m.id == copy).exact
    assert [g for g in near_duplicates.find_duplicates(coll, threshold, include_exact=False) if g.exact] == []
    assert near_duplicates.find_duplicates(coll, 0.9999, include_exact=False) == []


def test_a_duplicate_comparison_is_kept_until_the_images_change(coll):
    rng = np.random.default_rng(2)
    a = unit(rng.standard_normal(DIM))
    ids = add(coll, np.stack([a, unit(a + 0.1 * unit(rng.standard_normal(DIM))), unit(rng.standard_normal(DIM))]))
    assert not near_duplicates.scanned(coll, 0.9)
    first = near_duplicates.find_duplicates(coll, 0.9)
    assert [sorted(m.id for m in g.members) for g in first] == [ids[:2]]
    kept = duplicate_store.load_scan(coll)
    assert kept is not None and kept.generation == coll.generation and kept.a.tolist() == [ids[0]]
    assert near_duplicates.scanned(coll, 0.95) and not near_duplicates.scanned(coll, 0.85)
    with Collection.open(coll.directory) as reopened:  # another process: answered from the kept pairs
        assert near_duplicates.scanned(reopened, 0.9)
        assert [[m.id for m in g.members] for g in near_duplicates.find_duplicates(reopened, 0.9)] == \
            [[m.id for m in g.members] for g in first]
    add(coll, unit(rng.standard_normal((1, DIM))))  # the images changed: compared again
    assert not near_duplicates.scanned(coll, 0.9)
    near_duplicates.find_duplicates(coll, 0.9)
    assert near_duplicates.scanned(coll, 0.9)
    near_duplicates.forget_comparison(coll)  # forgotten: compared again
    assert not near_duplicates.scanned(coll, 0.9) and duplicate_store.load_scan(coll) is None
    near_duplicates.find_duplicates(coll, 0.9)
    (coll.directory / duplicate_store.SCAN_FILE).write_bytes(b"not an npz")  # damaged: ignored, not unpickled
    assert duplicate_store.load_scan(coll) is None and not near_duplicates.scanned(coll, 0.9)


# ---------------------------------------------------------------------------------------------------- export names


def test_folder_names_are_safe_and_distinct():
    names = export.folder_names(["a/b", "a_b", "Shirt", "shirt", "..", "CON", "_unlabelled", "ok", "x\\y"])
    assert len(set(n.casefold() for n in names.values())) == len(names)
    for label, name in names.items():
        assert "/" not in name and "\\" not in name and name not in (".", "..", "") and name != "_unlabelled"
    assert names["ok"] == "ok"
    assert names["CON"] != "CON"
    assert {names["a/b"], names["a_b"]} == {"a_b", "a_b-2"}


# ---------------------------------------------------------------------------------------------------- folder labels


def _add_at(coll: Collection, paths: list[str]) -> None:
    vectors = unit(np.random.default_rng(len(paths)).standard_normal((len(paths), DIM)))
    coll.add_rows([NewRow(p, f"h{p}", 1, 1) for p in paths], vectors)


def test_only_class_folders_are_offered_as_labels(coll, tmp_path):
    """An uploaded ImageFolder (cat/, dog/) plus a folder indexed in place elsewhere ("extra") and a loose zip folder
    ("more"): the lone folders are not classes, and train/ + test/ with the same classes merge."""
    up = tmp_path / "files" / "my photos"
    _add_at(coll, [str(up / cls / f"{n}.jpg") for cls in ("cat", "dog") for n in range(4)]
            + [str(tmp_path / "files" / "more" / f"{n}.jpg") for n in range(2)]
            + [str(tmp_path / "elsewhere" / "extra" / f"{n}.jpg") for n in range(3)])
    assert labels.folder_classes(coll) == {"cat": 4, "dog": 4}
    _add_at(coll, [str(tmp_path / "files" / "test" / "cat" / f"{n}.jpg") for n in range(2)])  # a lone test/cat
    assert labels.folder_classes(coll) == {"cat": 6, "dog": 4}  # named like a class: it is one
    assert labels.import_folders(coll).labelled == 10
    assert "extra" not in labels.label_counts(coll) and "more" not in labels.label_counts(coll)
