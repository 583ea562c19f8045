"""The collection's repository API (rows, labels, clusters, map points, metadata) on real SQLite files in tmp_path,
and the map's safe reducer persistence: a planted pickle in a collection folder is never loaded."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from revsearch import clusters, projection
from revsearch.collection import Collection, NewRow, cluster_store, label_store, map_store
from revsearch.collection import catalog
from revsearch.errors import RevsearchError
from revsearch.vectors import unit_rows

DIM = 8


@pytest.fixture
def coll(tmp_path: Path):
    c = Collection.create(tmp_path / "c", "synthetic", "fp", DIM)
    yield c
    c.close()


def vecs(n: int, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).standard_normal((n, DIM)))


def rows(coll: Collection, n: int, prefix: str = "img") -> list[NewRow]:
    return [NewRow(str(coll.directory / f"{prefix}{i}.jpg"), f"{prefix}{i}", 1, 1) for i in range(n)]


# ---------------------------------------------------------------------------------------------------- rows


def test_add_rows_upserts_by_path_and_moves_the_generation_only_when_vectors_change(coll):
    v = vecs(3)
    ids = coll.add_rows(rows(coll, 3), v)
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert coll.generation == 1 and coll.counts()["indexed"] == 3
    got_ids, got = coll.vectors()
    assert got_ids.tolist() == ids and np.allclose(got, v)

    skipped = NewRow(str(coll.directory / "bad.jpg"), status="skipped", reason="not an image")
    again = coll.add_rows([rows(coll, 1)[0], skipped], None)  # existing indexed row keeps its vector
    assert again[0] == ids[0] and coll.generation == 1
    assert coll.get(again[1]).reason == "not an image"

    w = vecs(1, seed=5)
    assert coll.add_rows(rows(coll, 1), w) == ids[:1] and coll.generation == 2
    assert np.allclose(coll.vectors([ids[0]])[1][0], w[0])
    copy = NewRow(rows(coll, 2)[1].path, "img0", 1, 1, status="duplicate", duplicate_of=ids[0])
    coll.add_rows([copy])  # an indexed row becoming a copy loses its vector
    assert coll.generation == 3 and coll.vectors()[0].tolist() == [ids[0], ids[2]]


def test_add_rows_refuses_bad_input_and_writes_nothing(coll):
    with pytest.raises(RevsearchError, match="shape"):
        coll.add_rows(rows(coll, 2), vecs(3))
    with pytest.raises(RevsearchError, match="status"):
        coll.add_rows([NewRow(str(coll.directory / "x.jpg"), status="lost")])
    with pytest.raises(RevsearchError, match="absolute"):
        coll.add_rows([NewRow("relative/x.jpg")], vecs(1))
    with pytest.raises(RevsearchError, match="needs a vector"):
        coll.add_rows(rows(coll, 2), None)
    assert coll.rows() == [] and coll.generation == 0


def test_remove_hands_the_vector_to_the_first_copy(coll):
    original = coll.add_rows(rows(coll, 1), vecs(1))[0]
    copy = coll.add_rows([NewRow(str(coll.directory / "copy.jpg"), "img0", 1, 1, status="duplicate",
                                 duplicate_of=original)])[0]
    assert coll.remove([original, 12345]) == 1
    assert coll.get(copy).status == "indexed" and coll.vectors()[0].tolist() == [copy]


def test_metadata_and_snapshot_reads(coll):
    coll.set_meta({"a": 1, "b": "two"})
    with coll.reading():
        assert (coll.meta("a"), coll.meta("b"), coll.meta("c", "none")) == ("1", "two", "none")
    ids = coll.add_rows(rows(coll, 2), vecs(2))
    assert coll.indexed_hashes() == {ids[0]: "img0", ids[1]: "img1"}
    assert {i: r.path for i, r in coll.rows_by_id([ids[1], 999]).items()} == {ids[1]: rows(coll, 2)[1].path}


def test_migrations_run_statement_by_statement(tmp_path):
    conn = catalog.connect(tmp_path / "catalog.sqlite")
    catalog.migrate(conn)
    assert catalog.schema_version(conn) == catalog.SCHEMA_VERSION == len(catalog.MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "images", "vectors", "clusters", "cluster_members", "labels", "label_history",
            "projection"} <= tables
    for step in catalog.MIGRATIONS:
        for statement in step:
            assert sqlite3.complete_statement(statement + ";") and statement.count(";") == 0
    conn.close()


# ---------------------------------------------------------------------------------------------------- labels


def test_labels_with_copies_history_and_version(coll):
    a, b = coll.add_rows(rows(coll, 2), vecs(2))
    copy = coll.add_rows([NewRow(str(coll.directory / "copy.jpg"), "img0", 1, 1, status="duplicate",
                                 duplicate_of=a)])[0]
    v0 = label_store.version(coll)
    assert label_store.set_labels(coll, {a: ("cat", None)}, "manual") == 2
    assert label_store.labels(coll) == {a: "cat", copy: "cat"} and label_store.version(coll) != v0
    assert label_store.set_labels(coll, {b: ("dog", 0.9)}, "import", copies=False) == 1
    # only_unlabelled leaves a (labelled meanwhile) alone
    assert label_store.set_labels(coll, {a: ("cow", 0.5)}, "suggestion", only_unlabelled=True) == 0
    assert label_store.counts(coll) == {"cat": 2, "dog": 1}
    assert [(r.id, r.label, r.source, r.confidence) for r in label_store.label_rows(coll)] == [
        (copy, "cat", "manual", None), (a, "cat", "manual", None), (b, "dog", "import", 0.9)]  # by label, path
    assert label_store.rename(coll, "cat", "kitten") == 2
    assert label_store.rename(coll, "nobody", "x") is None
    events = [(h.kind, h.event, h.old, h.new) for h in label_store.history(coll)]
    assert events[0] == ("label", "renamed", "cat", "kitten") and ("image", "created", None, "dog") in events


def test_clusters_store_replace_assign_merge_and_cluster_labels(coll):
    ids = coll.add_rows(rows(coll, 4), vecs(4))
    cents = vecs(2, seed=3)
    cluster_store.replace(coll, cents, [(ids[0], 0, 0.9, "img0"), (ids[1], 0, 0.8, "img1"), (ids[2], 1, 0.7, "img2")],
                          {1: "b"}, {"k": 2})
    assert cluster_store.names(coll) == {0: None, 1: "b"} and coll.meta("k") == "2"
    assert np.allclose(cluster_store.centroids(coll)[1], cents)
    assert cluster_store.unplaced(coll) == {ids[3]: "img3"} and cluster_store.unassigned_count(coll) == 1
    cluster_store.assign(coll, [(ids[3], 1, 0.5, "img3")], {"g": 1})
    assert cluster_store.assignments(coll) == {ids[0]: 0, ids[1]: 0, ids[2]: 1, ids[3]: 1}
    assert cluster_store.member_arrays(coll, 0)[1].tolist() == [ids[0], ids[1]]  # closest first
    assert cluster_store.member_names(coll) == {ids[2]: "b", ids[3]: "b"}

    assert label_store.label_cluster(coll, 1, "bees", [ids[2], ids[3]]) == 2
    assert cluster_store.names(coll)[1] == "bees"
    assert label_store.label_cluster(coll, 1, None, [ids[2], ids[3]]) == 2  # clears only what the cluster gave
    assert label_store.labels(coll) == {}

    cluster_store.merge(coll, 0, [0, 1], cents[0], "all", [(i, 0.5) for i in cluster_store.member_ids(coll, [0, 1])])
    assert cluster_store.names(coll) == {0: "all"} and set(cluster_store.assignments(coll).values()) == {0}


def test_map_store_replace_place_and_points(coll):
    ids = coll.add_rows(rows(coll, 3), vecs(3))
    map_store.replace(coll, [(ids[0], 0.0, 1.0, "img0"), (ids[1], 2.0, 3.0, "img1")], {"map_generation": 1})
    assert map_store.count(coll) == 2 and coll.meta("map_generation") == "1"
    map_store.place(coll, [(ids[2], 5.0, 5.0, "img2")], [ids[0]], {"map_generation": 2})
    assert map_store.stored(coll) == {ids[1]: ("img1", True), ids[2]: ("img2", False)}
    label_store.set_labels(coll, {ids[2]: ("x", None)}, "manual")
    assert [(p.id, p.x, p.y, p.label) for p in map_store.points(coll)] == [(ids[1], 2.0, 3.0, None),
                                                                            (ids[2], 5.0, 5.0, "x")]


# ---------------------------------------------------------------------------------------------------- the map's reducer


class _Boom:
    """Unpickling this writes a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_new_points_are_placed_among_their_nearest_fitted_points():
    ref = unit_rows(np.eye(4, dtype=np.float32))
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    placed = projection.place(ref, xy, ref[[1, 2]], k=2)
    assert np.allclose(placed, xy[[1, 2]], atol=1e-3)  # an exact match sits on its fitted point


def test_a_planted_pickle_in_the_collection_folder_is_never_loaded(coll, tmp_path):
    rng = np.random.default_rng(0)
    blobs = np.repeat(np.eye(DIM)[:3], 10, axis=0) + 0.1 * rng.standard_normal((30, DIM))
    coll.add_rows(rows(coll, 30), unit_rows(blobs))
    first = projection.update_map(coll)
    assert (first.action, first.method) == ("fit", "umap")
    with np.load(projection.reducer_path(coll), allow_pickle=False) as saved:
        assert sorted(saved.files) == ["ids", "vectors", "xy"]

    marker = tmp_path / "pwned.txt"
    with open(coll.directory / projection.LEGACY_REDUCER_FILE, "wb") as fh:
        pickle.dump(_Boom(marker), fh)
    np.save(projection.reducer_path(coll).with_suffix(".tmp.npy"), np.array([_Boom(marker)], dtype=object),
            allow_pickle=True)
    projection.reducer_path(coll).with_suffix(".tmp.npy").replace(projection.reducer_path(coll))
    coll.add_rows(rows(coll, 1, prefix="new"), unit_rows(np.eye(DIM)[:1]))
    update = projection.update_map(coll)
    assert not marker.exists()
    assert update.action == "fit" and update.points == 31  # the unreadable reference means a refit, not a crash
    assert not (coll.directory / projection.LEGACY_REDUCER_FILE).exists()


# ---------------------------------------------------------------------------------------------------- missing rows


def test_missing_rows_keep_id_labels_and_vector_but_leave_search_and_counts(coll):
    ids = coll.add_rows(rows(coll, 4), vecs(4))
    label_store.set_labels(coll, {ids[0]: ("kept", None)}, "manual")
    generation = coll.generation
    assert coll.mark_missing(ids[:2]) == 2 and coll.mark_missing(ids[:2]) == 0  # marking twice changes nothing
    assert coll.generation > generation
    assert coll.counts() == {"indexed": 2, "skipped": 0, "duplicate": 0, "missing": 2}
    assert list(coll.vectors()[0]) == ids[2:] and [r.id for r in coll.rows("missing")] == ids[:2]
    assert label_store.labels(coll) == {ids[0]: "kept"}
    with coll.batch() as writer:  # found again (moved): same id, the same vector back
        writer.restore(ids[0], str(coll.directory / "moved.jpg"), 1, 2)
    assert coll.get(ids[0]).path == str(coll.directory / "moved.jpg") and not coll.get(ids[0]).missing
    assert np.allclose(coll.vectors([ids[0]])[1], vecs(4)[:1], atol=1e-6)
    assert coll.prune() == 1 and coll.get(ids[1]) is None and label_store.labels(coll) == {ids[0]: "kept"}


def test_a_missing_original_hands_its_vector_to_a_present_copy(coll):
    [orig] = coll.add_rows(rows(coll, 1), vecs(1))
    [copy] = coll.add_rows([NewRow(str(coll.directory / "copy.jpg"), "img0", 1, 1, status="duplicate",
                                   duplicate_of=orig)])
    coll.mark_missing([orig])
    assert coll.get(copy).status == "indexed" and coll.get(orig).status == "duplicate"
    assert coll.get(orig).duplicate_of == copy and list(coll.vectors()[0]) == [copy]


def test_writes_computed_for_an_old_generation_are_refused(coll):
    from revsearch.collection.collection import GenerationMoved

    generation = coll.generation
    coll.add_rows(rows(coll, 2), vecs(2))
    with pytest.raises(GenerationMoved):
        map_store.replace(coll, [], {}, generation)
    map_store.replace(coll, [], {}, coll.generation)


def test_a_catalog_opened_read_only_reads_clusters_and_the_map_without_writing(coll):
    ids = coll.add_rows(rows(coll, 3), vecs(3))
    cluster_store.replace(coll, vecs(1, seed=5), [(ids[0], 0, 1.0, "img0")], {}, {})
    coll.add_rows(rows(coll, 2, prefix="new"), vecs(2, seed=9))  # not assigned yet: reads assign on the fly
    with Collection.open(coll.directory, read_only=True) as ro:
        assert ro.counts()["indexed"] == 5 and len(ro.vectors()[0]) == 5
        assert len(clusters.clustering(ro).clusters[0].member_ids) == 5
        assert len(projection.map_points(ro, update=False)) == 0
        with pytest.raises(sqlite3.OperationalError):
            ro.mark_missing([ids[0]])
    assert len(cluster_store.assignments(coll)) == 1  # nothing was written by the reads
