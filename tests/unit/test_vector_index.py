"""Index selection by size: exact below the limit, IVF-SQ8 with a calibrated nprobe above it."""

import numpy as np

from revsearch.collection import vector_index
from revsearch.vectors import recall_at_k


def clustered(n: int, dim: int = 64, centres: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_small_collections_are_exact():
    x = clustered(500)
    index, info = vector_index.build(np.arange(100, 600), x, 64)
    assert info.kind == "IDMap2,Flat" and info.recall_at_10 is None
    scores, ids = index.search(x[:5], 1)
    assert ids[:, 0].tolist() == [100, 101, 102, 103, 104] and np.allclose(scores[:, 0], 1, atol=1e-5)


def test_large_collections_use_calibrated_ann():
    x = clustered(20_000)
    ids = np.arange(20_000)[::-1] * 3 + 7  # ids need not be contiguous or arrive sorted
    index, info = vector_index.build(ids, x, 64, exact_limit=5_000)
    assert info.kind.startswith("IVF") and info.kind.endswith("SQ8")
    assert info.recall_at_10 >= vector_index.TARGET_RECALL and info.nprobe >= 1
    assert info.bytes_per_vector < 4 * 64  # smaller than float32 storage
    # the recall claimed is the recall measured independently here
    exact = x @ x[:300].T
    truth = ids[np.argsort(-exact, axis=0)[:10].T]
    _, got = index.search(x[:300], 10)
    assert recall_at_k(got, truth) >= 0.9


def test_recall_at_k():
    assert recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 4, 1]])) == 2 / 3


def test_float16_collections_search_exactly_over_their_stored_values():
    x = clustered(3000)
    stored = x.astype(np.float16).astype(np.float32)  # what a float16 collection hands to build()
    index, info = vector_index.build(np.arange(3000), stored, 64, float16=True)
    assert info.kind == "IDMap2,SQfp16" and info.bytes_per_vector == 2 * 64 + 8
    scores, got = index.search(stored[:100], 10)
    truth = np.argsort(-(stored[:100] @ stored.T), axis=1)[:, :10]
    assert recall_at_k(got, truth) >= 0.99
    assert np.allclose(scores, np.take_along_axis(stored[:100] @ stored.T, got, axis=1), atol=1e-3)
