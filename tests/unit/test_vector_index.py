"""Index selection by size: exact below the limit, IVF-SQ8 with a calibrated nprobe above it."""

import numpy as np

from revsearch.collection import index_plan, vector_index
from revsearch.vectors import recall_at_k


def clustered(n: int, dim: int = 64, centres: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_small_collections_are_exact_over_float16_codes():
    x = clustered(500)
    index, info = vector_index.build(np.arange(100, 600), x, 64)
    assert info.kind == "IDMap2,SQfp16" and info.recall_at_10 is None and info.bytes_per_vector == 2 * 64 + 8
    scores, ids = index.search(x[:5], 1)
    assert ids[:, 0].tolist() == [100, 101, 102, 103, 104] and np.allclose(scores[:, 0], 1, atol=1e-4)
    # float16 codes rank as float32 does, and score within 5e-4 of it at 64-d (~2e-5 at 1280-d)
    scores, got = index.search(x[:100], 10)
    exact = x[:100] @ x.T
    assert recall_at_k(got, np.argsort(-exact, axis=1)[:, :10] + 100) >= 0.99
    assert np.allclose(scores, np.take_along_axis(exact, got - 100, axis=1), atol=5e-4)


def test_a_single_query_scan_is_split_over_threads_with_the_same_answer(monkeypatch):
    import faiss

    x = clustered(30_000)
    ids = np.arange(30_000)[::-1] * 5 + 3
    index, _ = vector_index.build(ids, x, 64)
    assert index.ntotal >= vector_index.SPLIT_SCAN_FROM and faiss.omp_get_max_threads() >= 2
    split_calls = []

    class Watched(vector_index.ThreadPoolExecutor):  # the real executor, noting that the split path made one
        def __init__(self, *args, **kwargs) -> None:
            split_calls.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(vector_index, "ThreadPoolExecutor", Watched)
    for row in (0, 17, 29_999):
        q = x[row:row + 1]
        want_scores, want_ids = index.search(q, 10)
        scores, got = vector_index.search(index, q, 10)
        assert got.tolist() == want_ids.tolist() and np.allclose(scores, want_scores)
        assert got[0, 0] == ids[row]
    assert split_calls  # the split path ran, not the plain one
    split_calls.clear()
    many_scores, many = vector_index.search(index, x[:8], 10)  # many queries: faiss parallelises over them itself
    assert not split_calls and many[:, 0].tolist() == ids[:8].tolist()


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


def test_many_queries_are_searched_through_blas_with_the_same_answer():
    x = clustered(40_000)
    ids = np.arange(40_000) * 7 + 2
    index, _ = vector_index.build(ids, x, 64)
    queries = x[::400]  # 100 queries: past BLAS_FROM
    assert len(queries) >= vector_index.BLAS_FROM
    want_scores, want_ids = index.search(queries, 12)
    scores, got = vector_index.search(index, queries, 12)
    assert recall_at_k(got, want_ids) >= 0.999 and np.allclose(scores, want_scores, atol=1e-5)
    assert got[:, 0].tolist() == ids[::400].tolist()
    # a last decoded chunk with fewer rows than k is padded, then merged
    n = index_plan.CHUNK_ROWS + 5
    tail = vector_index.build(np.arange(n), x[:n], 64)[0]
    want_scores, want_ids = tail.search(x[n - 25 : n], 10)
    scores, got = vector_index.search(tail, x[n - 25 : n], 10)
    assert recall_at_k(got, want_ids) >= 0.999 and got[:, 0].tolist() == list(range(n - 25, n))
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_float16_collections_search_exactly_over_their_stored_values():
    x = clustered(3000)
    stored = x.astype(np.float16).astype(np.float32)  # what a float16 collection hands to build()
    index, info = vector_index.build(np.arange(3000), stored, 64)
    assert info.kind == "IDMap2,SQfp16"
    scores, got = index.search(stored[:100], 10)
    truth = np.argsort(-(stored[:100] @ stored.T), axis=1)[:, :10]
    assert recall_at_k(got, truth) >= 0.99
    assert np.allclose(scores, np.take_along_axis(stored[:100] @ stored.T, got, axis=1), atol=1e-3)


def test_an_older_float32_flat_index_is_rebuilt_not_patched():
    old = vector_index.IndexInfo(kind="IDMap2,Flat", ntotal=10, built_at=1.0)
    assert not vector_index.can_update(old, 12, 64)
    same = vector_index.IndexInfo(kind="IDMap2,SQfp16", ntotal=10, built_at=1.0)
    assert vector_index.can_update(same, 12, 64)
