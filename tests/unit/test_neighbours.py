"""revsearch.neighbours (exact k-NN, range pairs, spherical k-means over arrays) and the collection's cache of values
derived from its vectors (`Collection.derived`), on small synthetic data checked against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revsearch.collection import Collection, NewRow
from revsearch.neighbours import knn, nearest, spherical_kmeans, within
from revsearch.vectors import unit_rows

DIM = 8


def vecs(n: int, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).standard_normal((n, DIM))).astype(np.float32)


def test_knn_is_the_brute_force_top_k_and_caps_k_at_the_base_size() -> None:
    base, queries = vecs(30), vecs(5, seed=1)
    sims, rows = knn(base, queries, 4)
    brute = np.argsort(-(queries @ base.T), axis=1)[:, :4]
    assert (rows == brute).all()
    np.testing.assert_allclose(sims, np.take_along_axis(queries @ base.T, brute, axis=1), atol=1e-5)
    assert knn(base[:3], queries, 10)[1].shape == (5, 3)


def test_within_finds_exactly_the_pairs_at_or_above_the_threshold_chunk_by_chunk() -> None:
    x = vecs(40)
    x[7] = x[3]  # an exact copy: cosine 1
    found = set()
    for start, lims, scores, rows in within(x, 0.6, chunk=7):
        for q in range(len(lims) - 1):
            found |= {(start + q, int(j)) for j, s in zip(rows[lims[q]:lims[q + 1]], scores[lims[q]:lims[q + 1]])
                      if start + q != int(j) and s >= 0.6 - 1e-6}
    sims = x @ x.T
    expected = {(i, j) for i in range(40) for j in range(40) if i != j and sims[i, j] >= 0.6}
    assert found == expected and (3, 7) in found


def test_spherical_kmeans_gives_unit_centroids_deterministically_and_nearest_assigns_to_them() -> None:
    centres = vecs(3, seed=5)
    x = unit_rows(np.repeat(centres, 20, axis=0) + 0.05 * np.random.default_rng(2).standard_normal((60, DIM)))
    c = spherical_kmeans(x, 3, seed=0)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(c, spherical_kmeans(x, 3, seed=0))
    assign, sims = nearest(x, c)
    assert len(set(assign[:20])) == len(set(assign[20:40])) == len(set(assign[40:])) == 1
    assert len(set(assign.tolist())) == 3
    np.testing.assert_allclose(sims, (x @ c.T).max(axis=1), atol=1e-6)


def test_derived_values_are_kept_per_kind_until_the_params_or_the_generation_change(tmp_path: Path) -> None:
    built: list[str] = []

    def build(tag: str):
        return lambda: built.append(tag) or tag

    with Collection.create(tmp_path / "c", "synthetic", "fp", DIM) as coll:
        assert coll.derived("index", "v1", build("a")) == "a"
        assert coll.derived("index", "v1", build("b")) == "a"  # kept
        assert coll.derived("suggestions", 1, build("s")) == "s"  # another kind beside it
        assert coll.derived("index", "v2", build("c")) == "c"  # other params: built again
        coll.add_rows([NewRow(str(tmp_path / "x.jpg"), "x", 1, 1)], vecs(1))  # the vectors change
        assert coll.derived("index", "v2", build("d")) == "d"
        assert coll.derived("suggestions", 1, build("t")) == "t"
    assert built == ["a", "s", "c", "d", "t"]
