"""A million images on one machine (issue 11, point 3), on small synthetic collections: the index is built within a
memory budget from a streamed snapshot, without the collection's lock, and opened memory-mapped; clusters and
near-duplicates stream too and give today's results on small data."""

import threading

import faiss
import numpy as np
import pytest

from revsearch import clusters, near_duplicates
from revsearch.clusters import making
from revsearch.collection import Collection, NewRow, index_plan, vector_index
from revsearch.errors import RevsearchError
from revsearch.vectors import recall_at_k


def clustered(n: int, dim: int = 64, centres: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def filled(tmp_path, x: np.ndarray, name: str = "c") -> Collection:
    coll = Collection.create(tmp_path / name, "synthetic", "f" * 64, x.shape[1])
    for start in range(0, len(x), 5000):
        rows = [NewRow(path=f"/p/{i:06d}.jpg", hash=f"{i:064x}") for i in range(start, min(len(x), start + 5000))]
        coll.add_rows(rows, x[start : start + 5000])
    return coll


def exact_top10(x: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return ids[np.argsort(-(queries @ x.T), axis=1)[:, :10]]


def test_memory_model_picks_codes_that_fit_the_budget():
    gib = index_plan.GIB
    assert index_plan.parse_memory("4G") == 4 * gib and index_plan.parse_memory("512M") == 512 * 2**20
    assert index_plan.parse_memory("1.5GB") == int(1.5 * gib)
    with pytest.raises(RevsearchError):
        index_plan.parse_memory("lots")
    roomy = index_plan.plan(1_000_000, 1280, 100_000, budget=4 * gib)
    assert roomy.kind == "IVF4096,SQ8" and roomy.estimate <= 4 * gib
    tight = index_plan.plan(1_000_000, 1280, 100_000, budget=2 * gib)
    assert tight.kind.startswith("IVF4096,PQ") and tight.estimate <= 2 * gib
    assert index_plan.plan(10_000_000, 1280, 100_000, budget=None).kind.endswith("SQ8")
    with pytest.raises(RevsearchError, match="index-memory"):
        index_plan.plan(100_000_000, 1280, 100_000, budget=gib)


def test_budgeted_build_keeps_recall_and_opens_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_LIMIT", 5_000)
    both = clustered(30_300)
    x, queries = both[:30_000], both[30_000:]  # queries held out: not in the collection, same distribution
    with filled(tmp_path, x) as coll:
        coll.set_index_memory("1G")
        index = coll.index()
        info = coll.index_info()
        assert info.kind.startswith("IVF") and info.kind.endswith("SQ8") and index.ntotal == 30_000
        assert info.recall_at_10 >= vector_index.TARGET_RECALL
        ids = np.arange(1, 30_001)
        _, got = index.search(queries, 10)
        assert recall_at_k(got, exact_top10(x, ids, queries)) >= 0.9
        path = coll.index_path()
        assert vector_index.mmap_flag(path) == faiss.IO_FLAG_MMAP
        in_memory = faiss.read_index(str(path))
        vector_index.set_search_params(in_memory, info)
        assert np.array_equal(in_memory.search(queries, 10)[1], got)  # mapped and loaded answer alike
    with Collection.open(tmp_path / "c") as coll:  # a new open maps the file: it does not read the lists
        assert coll.index_memory == index_plan.parse_memory("1G")
        invlists = faiss.extract_index_ivf(coll.index()).invlists
        assert type(faiss.downcast_InvertedLists(invlists)).__name__ == "OnDiskInvertedLists"


def test_exact_indexes_open_memory_mapped_too(tmp_path):
    x = clustered(2_000)
    with filled(tmp_path, x) as coll:
        index = coll.index()
        path = coll.index_path()
        assert vector_index.mmap_flag(path) == faiss.IO_FLAG_MMAP_IFC
        assert np.array_equal(index.search(x[:20], 5)[1], faiss.read_index(str(path)).search(x[:20], 5)[1])


def test_build_does_not_hold_the_collection_lock(tmp_path, monkeypatch):
    x = clustered(3_000)
    entered, release = threading.Event(), threading.Event()
    real = vector_index.build_from
    waited: list[bool] = []

    def slow_build(*args, **kwargs):
        entered.set()
        waited.append(release.wait(60))
        return real(*args, **kwargs)

    monkeypatch.setattr(vector_index, "build_from", slow_build)
    with filled(tmp_path, x) as coll:
        built: list[faiss.Index] = []
        worker = threading.Thread(target=lambda: built.append(coll.index()))
        worker.start()
        assert entered.wait(60)
        # while the build runs: reads and writes of the catalog go through (they would wait on a held lock)
        assert coll.counts()["indexed"] == 3_000
        coll.add_rows([NewRow(path="/p/new.jpg", hash="e" * 64)], clustered(1, seed=5))
        release.set()
        worker.join()
        assert waited == [True] and built[0].ntotal == 3_000  # the snapshot it was built from
        assert coll.index().ntotal == 3_001  # the next call catches up (patched, not rebuilt)
        assert len(waited) == 1


def test_streamed_kmeans_assigns_like_the_in_memory_one(tmp_path):
    x = clustered(3_000, centres=8)
    with filled(tmp_path, x) as coll:
        ids, vectors = coll.vectors()
        whole = clusters.kmeans(vectors, 8, seed=3)
        generation, streamed_ids, streamed = making._fit_streamed(coll, 8, 3, sample=len(ids))
        assert generation == coll.generation and np.array_equal(streamed_ids, ids)
        assert np.allclose(streamed.centroids, whole.centroids, atol=1e-5)
        assert np.array_equal(streamed.assign, whole.assign) and np.allclose(streamed.sims, whole.sims, atol=1e-5)


def test_recluster_past_the_sample_limit_trains_on_a_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(making, "SAMPLE_LIMIT", 1_000)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 64))
    truth = rng.integers(0, 5, 4_000)
    x = centres[truth] + 0.3 * rng.normal(size=(4_000, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    with filled(tmp_path, x) as coll:
        result = clusters.recluster(coll, 5)
        assert sum(c.size for c in result.clusters) == 4_000 and result.unassigned == 0
        got = clusters.assignments(coll)
        for c in range(5):  # every true cluster lands in one found cluster
            found = {got[i + 1] for i in np.flatnonzero(truth == c)}
            assert len(found) == 1


def near_copies(n: int = 2_000, copies: int = 25) -> np.ndarray:
    x = clustered(n, centres=400)
    rng = np.random.default_rng(4)
    extra = x[:copies] + 0.02 * rng.normal(size=(copies, x.shape[1])).astype(np.float32)
    return np.vstack([x, extra / np.linalg.norm(extra, axis=1, keepdims=True)]).astype(np.float32)


def _groups(coll: Collection) -> list[tuple[list[int], list[float]]]:
    return [([m.id for m in g.members], [round(m.score, 5) for m in g.members])
            for g in near_duplicates.find_duplicates(coll, 0.9)]


@pytest.mark.parametrize("exact_limit", [100_000, 500])
def test_near_duplicates_through_the_index_match_all_pairs(tmp_path, monkeypatch, exact_limit):
    x = near_copies()
    with filled(tmp_path, x) as coll:
        all_pairs = _groups(coll)
        ids, top1 = near_duplicates.top1_similarities(coll)
        assert len(all_pairs) >= 20
        monkeypatch.setattr(vector_index, "EXACT_LIMIT", exact_limit)  # 500: through an IVF-SQ8 index
        monkeypatch.setattr(near_duplicates, "INDEX_ABOVE", 0)
        assert _groups(coll) == all_pairs  # pairs re-scored exactly: same groups, same scores
        via_ids, via_index = near_duplicates.top1_similarities(coll)
        assert np.array_equal(via_ids, ids)
        close = np.isclose(via_index, top1, atol=0.02)
        assert close.mean() >= (1.0 if exact_limit > len(x) else 0.9)
