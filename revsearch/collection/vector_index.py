"""The FAISS index of a collection: a derived cache of the catalog's vectors, saved atomically per generation.

The catalog's `generation` counter moves on every change to the vectors. The index file carries the generation it was
built from in its name, so a stale or half-written index is never trusted: it is rebuilt from the catalog instead.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Protocol

import faiss
import numpy as np

from revsearch.collection import index_plan
from revsearch.vectors import recall_at_k

INDEX_PREFIX = "index-"
INDEX_SUFFIX = ".faiss"


def index_file(directory: Path, generation: int) -> Path:
    return directory / f"{INDEX_PREFIX}{generation}{INDEX_SUFFIX}"


#: Up to this many vectors search is exact (a float16 scan of 100k × 1280-d takes ~14 ms on two threads here); past
#: it, ANN.
EXACT_LIMIT = int(os.environ.get("REVSEARCH_EXACT_LIMIT", "100000"))
#: Below this many vectors a scan takes under ~3 ms on one thread: splitting it would cost more than it saves.
SPLIT_SCAN_FROM = 20_000
#: From this many queries at once, decoded float16 codes times the queries through BLAS beat faiss's scan by far
#: (faiss's own flat search switches to BLAS at 20 queries too).
BLAS_FROM = 20
TARGET_RECALL = 0.95
CALIBRATION_QUERIES = 200
TRAIN_ITERATIONS = 10  # k-means rounds of the IVF quantiser: the recall gain past 10 is nil once nprobe is calibrated


@dataclass
class IndexInfo:
    """How the index was built and how good it is, persisted next to it and reported by `info`."""

    kind: str  # a faiss index-factory string
    ntotal: int
    nprobe: int | None = None
    recall_at_10: float | None = None  # measured against exact search on a sample of the collection itself
    bytes_per_vector: float | None = None
    built_at: float | None = None  # wall clock when the index last matched the catalog (for incremental updates)
    trained_n: int | None = None  # vectors the IVF quantiser was trained for; retrain once the collection doubles

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> "IndexInfo | None":
        return cls(**json.loads(text)) if text else None


def factory_string(n: int, dim: int, exact_limit: int | None = None, budget: int | None = None) -> str:
    """Exact search up to `exact_limit` vectors (a scan of float16 codes: half the memory traffic of float32); past
    it IVF with 8-bit scalar quantisation (4× smaller than float32, recall ~0.95+ with a calibrated nprobe), with
    ~4·√n lists — or smaller PQ codes when `budget` demands it (see index_plan)."""
    return index_plan.plan(n, dim, EXACT_LIMIT if exact_limit is None else exact_limit, budget).kind


class VectorSource(Protocol):
    """Where a build reads vectors from: a catalog snapshot (streamed) or arrays in memory."""

    n: int

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """float32 [min(count, n), dim]: vectors at random positions."""

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids int64, vectors float32) chunks of at most `size` rows, every vector once, ids ascending."""


class ArraySource:
    """Vectors already in memory (tests, benchmarks, small collections)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) > 1 and np.any(ids[1:] < ids[:-1]):  # the catalog hands them over sorted: no copy then
            order = np.argsort(ids, kind="stable")
            ids, vectors = ids[order], vectors[order]
        self.ids, self.vectors, self.n = ids, vectors, len(ids)

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        rows = np.sort(rng.choice(self.n, size=min(self.n, count), replace=False))
        return np.ascontiguousarray(self.vectors[rows], dtype=np.float32)

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, self.n, size):
            yield (self.ids[start : start + size],
                   np.ascontiguousarray(self.vectors[start : start + size], dtype=np.float32))


def build(ids: np.ndarray, vectors: np.ndarray, dim: int, exact_limit: int | None = None,
          seed: int = 0, budget: int | None = None) -> tuple[faiss.Index, IndexInfo]:
    """The right index for the collection's size, filled with its vectors under their catalog ids."""
    return build_from(ArraySource(ids, vectors), dim, exact_limit, seed, budget)


def build_from(source: VectorSource, dim: int, exact_limit: int | None = None,
               seed: int = 0, budget: int | None = None, built_at: float | None = None) -> tuple[faiss.Index, IndexInfo]:
    """Build within `budget` bytes (index_plan's memory model): train the quantiser on a sample, then add the vectors
    chunk by chunk — never all of them in RAM — while computing the exact top-10 of the calibration queries on the
    same pass, so nprobe is calibrated without a second read of the catalog."""
    plan = index_plan.plan(source.n, dim, EXACT_LIMIT if exact_limit is None else exact_limit, budget)
    index = faiss.index_factory(dim, plan.kind, faiss.METRIC_INNER_PRODUCT)
    info = IndexInfo(kind=plan.kind, ntotal=source.n, built_at=time.time() if built_at is None else built_at)
    queries = heap = None
    if plan.nlist:
        rng = np.random.default_rng(seed)
        sample = source.sample(plan.train_n, rng)
        faiss.extract_index_ivf(index).cp.niter = TRAIN_ITERATIONS
        index.train(sample)
        info.trained_n = source.n
        queries = sample[rng.choice(len(sample), size=min(CALIBRATION_QUERIES, len(sample)), replace=False)]
        del sample
        heap = faiss.ResultHeap(len(queries), min(10, source.n), keep_max=True)
    for ids, vecs in source.batches(plan.chunk_rows):
        index.add_with_ids(vecs, ids)
        if heap is not None:
            scores, rows = faiss.knn(queries, vecs, min(heap.k, len(vecs)), metric=faiss.METRIC_INNER_PRODUCT)
            scores, rows = _pad(scores, rows, heap.k)
            heap.add_result(scores, np.where(rows >= 0, ids[np.maximum(rows, 0)], -1))
    if heap is not None:
        heap.finalize()
        info.nprobe, info.recall_at_10 = calibrate_nprobe(index, queries, heap.I)
    info.bytes_per_vector = _bytes_per_vector(plan.kind, dim)
    return index, info


def _pad(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """knn results widened to k columns (a last chunk may hold fewer than k vectors)."""
    if scores.shape[1] == k:
        return scores, rows
    extra = k - scores.shape[1]
    return (np.hstack([scores, np.full((len(scores), extra), -np.inf, np.float32)]),
            np.hstack([rows, np.full((len(rows), extra), -1, np.int64)]))


def calibrate_nprobe(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, target: float = TARGET_RECALL
                     ) -> tuple[int, float]:
    """Smallest power-of-two nprobe whose recall@k against exact search (`truth`: the true top-k ids of each
    query) reaches `target`."""
    ivf = faiss.extract_index_ivf(index)
    nprobe = 1
    while True:
        ivf.nprobe = nprobe
        _, got = index.search(queries, truth.shape[1])
        recall = recall_at_k(got, truth)
        if recall >= target or nprobe >= ivf.nlist:
            return nprobe, recall
        nprobe *= 2


def _bytes_per_vector(kind: str, dim: int) -> float:
    """Memory of one stored vector plus its id (what `info` reports per million vectors)."""
    codes = kind.rsplit(",", 1)[-1]
    if codes.startswith("PQ"):
        return float(int(codes[2:].split("x")[0]) + 8)
    return float({"SQ8": 1, "SQfp16": 2}.get(codes, 4) * dim + 8)


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the top k per query, as `index.search` gives them, at the speed each case needs over the exact
    tier's float16 codes (faiss scans them query by query, decoding as it goes):

    - fewer queries than threads: the scan is bound by decoding, not memory, so the codes are split in row ranges
      scanned at once (100k × 1280-d, one query: 26 → 14 ms on two cores), then merged;
    - many queries: the codes are decoded chunk by chunk to float32 and multiplied by the queries with BLAS
      (2,000 queries × 50k: 16 s through faiss's scan, ~1 s this way)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    inner = _float16_codes(index)
    if inner is None or k > index.ntotal:
        return index.search(queries, k)
    if len(queries) >= BLAS_FROM:
        return _blas_search(index, inner, queries, k)
    parts = faiss.omp_get_max_threads()
    if len(queries) >= parts or parts < 2 or index.ntotal < SPLIT_SCAN_FROM or k > index.ntotal // parts:
        return index.search(queries, k)
    bounds = np.linspace(0, index.ntotal, parts + 1).astype(np.int64)

    def scan(part: int) -> tuple[np.ndarray, np.ndarray]:
        params = faiss.SearchParameters(sel=faiss.IDSelectorRange(int(bounds[part]), int(bounds[part + 1])))
        return inner.search(queries, k, params=params)

    # threads of this call (faiss releases the GIL), not a pool kept for the process: they run at the caller's
    # priority, so a background job's search never slows a page's (Linux threads inherit their creator's niceness)
    with ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="scan") as pool:
        others = [pool.submit(scan, part) for part in range(1, parts)]
        found = [scan(0), *(f.result() for f in others)]
    scores = np.concatenate([f[0] for f in found], axis=1)
    rows = np.concatenate([f[1] for f in found], axis=1)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    scores, rows = np.take_along_axis(scores, best, 1), np.take_along_axis(rows, best, 1)
    return scores, _ids_of(index, rows)


def _float16_codes(index: faiss.Index) -> faiss.IndexScalarQuantizer | None:
    """The float16 codes of an exact-tier index (IDMap2 over SQfp16), or None for any other index."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
    if isinstance(inner, faiss.IndexScalarQuantizer) and inner.sq.qtype == faiss.ScalarQuantizer.QT_fp16:
        return inner
    return None


def _ids_of(index: faiss.IndexIDMap2, rows: np.ndarray) -> np.ndarray:
    """Catalog ids of an IDMap2's internal rows (-1 stays -1)."""
    id_map = faiss.rev_swig_ptr(index.id_map.data(), index.id_map.size())
    return np.where(rows >= 0, id_map[np.maximum(rows, 0)], -1)


def _blas_search(index: faiss.IndexIDMap2, inner: faiss.IndexScalarQuantizer, queries: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Many queries over float16 codes: decoded CHUNK_ROWS at a time (80 MB at 1280-d) and searched with BLAS."""
    n, dim = inner.ntotal, inner.d
    codes = faiss.rev_swig_ptr(inner.codes.data(), inner.codes.size()).view(np.float16).reshape(n, dim)
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for start in range(0, n, index_plan.CHUNK_ROWS):
        part = codes[start : start + index_plan.CHUNK_ROWS].astype(np.float32)
        scores, rows = faiss.knn(queries, part, min(k, len(part)), metric=faiss.METRIC_INNER_PRODUCT)
        scores, rows = _pad(scores, rows, k)
        heap.add_result(scores, _ids_of(index, np.where(rows >= 0, rows + start, -1)))
    heap.finalize()
    return heap.D, heap.I


def set_search_params(index: faiss.Index, info: IndexInfo | None) -> None:
    """Re-apply the calibrated nprobe after loading (it is not part of the serialised index)."""
    if info is not None and info.nprobe is not None:
        faiss.extract_index_ivf(index).nprobe = info.nprobe


def can_update(info: IndexInfo, n_after: int, dim: int, budget: int | None = None) -> bool:
    """Whether an index may be patched to hold `n_after` vectors instead of rebuilt: the same exact kind as a fresh
    build would choose (an older float32 flat index is rebuilt as float16 codes), or IVF in both with a quantiser
    trained on at least half of them."""
    if info.built_at is None:
        return False
    fresh = factory_string(n_after, dim, budget=budget)
    if fresh.startswith("IVF") != info.kind.startswith("IVF") or (not fresh.startswith("IVF") and fresh != info.kind):
        return False
    return not info.kind.startswith("IVF") or (info.trained_n or 0) * 2 >= n_after


def stored_ids(index: faiss.Index) -> np.ndarray:
    """The catalog ids an index holds."""
    if isinstance(index, faiss.IndexIDMap2) or hasattr(index, "id_map"):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    ivf = faiss.extract_index_ivf(index)
    chunks = [faiss.rev_swig_ptr(ivf.invlists.get_ids(i), ivf.invlists.list_size(i)).copy()
              for i in range(ivf.nlist) if ivf.invlists.list_size(i)]
    return np.concatenate(chunks).astype(np.int64) if chunks else np.zeros(0, dtype=np.int64)


def load_latest(directory: Path) -> faiss.Index | None:
    """The most recent saved index whatever its generation, read into memory (a starting point for an incremental
    update: a memory-mapped index is read-only)."""
    files = sorted(directory.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"),
                   key=lambda p: int(p.stem[len(INDEX_PREFIX):]) if p.stem[len(INDEX_PREFIX):].isdigit() else -1)
    return load(directory, int(files[-1].stem[len(INDEX_PREFIX):]), mmap=False) if files else None


def load(directory: Path, generation: int, mmap: bool = True) -> faiss.Index | None:
    """The index saved for exactly this generation, or None. Memory-mapped by default: opening a collection reads
    only the header and the IVF centroids; the codes stay in the page cache, shared and evictable."""
    path = index_file(directory, generation)
    if not path.exists():
        return None
    try:
        return faiss.read_index(str(path), mmap_flag(path) if mmap else 0)
    except RuntimeError:
        return None  # unreadable → rebuilt by the caller


def mmap_flag(path: Path) -> int:
    """IVF indexes map their inverted lists (IO_FLAG_MMAP); flat ones map their codes (IO_FLAG_MMAP_IFC)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return faiss.IO_FLAG_MMAP if head.startswith(b"Iw") else faiss.IO_FLAG_MMAP_IFC  # "Iw…": every IVF fourcc


def save(index: faiss.Index, directory: Path, generation: int) -> Path:
    """Write atomically (temp + rename), then drop files of older generations."""
    path = index_file(directory, generation)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".tmp")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in directory.glob(f"{INDEX_PREFIX}*{INDEX_SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
