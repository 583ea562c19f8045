"""Sizing the FAISS index to a memory budget (autofaiss-style): which codes, how many IVF lists, how big a sample.

The memory model of a streamed build (vector_index.build_from), in bytes, for n vectors of dimension d:

    train phase  = PROCESS + nlist·d·4 (centroids) + 2 · train_n·d·4 (the sample and k-means' working copy)
    add phase    = PROCESS + nlist·d·4 + GROWTH · n·(code + 8) (codes + ids in the inverted lists)
                   + 3 · CHUNK_ROWS·d·4 (one streamed chunk: blobs, float32 rows, encoding scratch)
    peak         = max(train phase, add phase)

`GROWTH` covers the inverted lists' std::vectors growing by doubling while vectors are added in chunks. The codes are
the best that fit: SQ8 (d bytes, today's choice, recall ≥ 0.95 with a calibrated nprobe), else PQ with m one-byte
sub-quantisers (m bytes; lower recall, reported by calibration). Nothing else grows with n: the vectors themselves
stream from the catalog and never sit in RAM together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from revsearch.errors import RevsearchError

GIB = 2**30
DEFAULT_BUDGET = 4 * GIB
PROCESS = 400 * 2**20  # interpreter, numpy, faiss, SQLite page cache
GROWTH = 1.5
CHUNK_ROWS = 16_384
TRAIN_PER_LIST = 40  # faiss warns below 39 training points per IVF list; k-means cost is linear in it
MIN_TRAIN = 20_000  # the SQ8 ranges also come from the sample: too few points and the rest get clipped
MIN_PER_LIST = 39
EXACT_KIND = "IDMap2,SQfp16"


@dataclass(frozen=True)
class IndexPlan:
    """What a build will make and what it is expected to cost."""

    kind: str  # faiss index-factory string
    nlist: int  # 0 for exact search
    train_n: int  # vectors sampled to train the quantiser (0 for exact search)
    chunk_rows: int
    estimate: int  # expected peak bytes of the build
    budget: int | None


def parse_memory(text: str | int | None) -> int | None:
    """'4G', '512M', '1.5GB', '800000000' → bytes; None stays None (no budget)."""
    if text is None or isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match:
        raise RevsearchError(f"memory sizes look like 4G, 512M or 1.5GB, not {text!r}")
    value = float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " ")
    if value < 64 * 2**20:
        raise RevsearchError(f"an index memory budget of {text} is too small (at least 64M)")
    return int(value)


def nlist_for(n: int) -> int:
    """~4·√n lists (a power of two), with at least MIN_PER_LIST training points each."""
    nlist = 2 ** round(math.log2(4 * math.sqrt(max(n, 1))))
    return int(max(1, min(65536, nlist, 2 ** int(math.log2(max(1, n // MIN_PER_LIST))))))


def plan(n: int, dim: int, exact_limit: int, budget: int | None = None) -> IndexPlan:
    """The index to build for n vectors: exact up to `exact_limit` (if it fits), else IVF with the best codes that
    fit `budget` (None: no limit, i.e. SQ8); a budget too small for even the smallest codes is a clear error.

    The exact scan reads float16 codes: half the memory and half the bytes per scan of float32, and scores within
    ~2e-5 of float32's on unit vectors (the ranking of real neighbours does not change)."""
    chunk = CHUNK_ROWS
    stream = 3 * chunk * dim * 4
    if n <= exact_limit:
        per = 2 * dim + 8
        estimate = PROCESS + stream + int(GROWTH * n * per)
        if budget is None or estimate <= budget:
            return IndexPlan(EXACT_KIND, 0, 0, chunk, estimate, budget)
    nlist = nlist_for(n)
    centroids = nlist * dim * 4
    train_n = min(n, max(TRAIN_PER_LIST * nlist, MIN_TRAIN))
    if budget is not None:  # a smaller sample if it must (never below what faiss needs)
        room = (budget - PROCESS - centroids) // (2 * dim * 4)
        train_n = int(min(train_n, max(room, MIN_PER_LIST * nlist, 256 * 39)))
        train_n = min(train_n, n)
    train_phase = PROCESS + centroids + 2 * train_n * dim * 4
    for codes, code_bytes in _codes(dim):
        add_phase = PROCESS + centroids + stream + int(GROWTH * n * (code_bytes + 8))
        estimate = max(train_phase, add_phase)
        if budget is None or estimate <= budget:
            return IndexPlan(f"IVF{nlist},{codes}", nlist, train_n, chunk, estimate, budget)
    smallest = max(train_phase, PROCESS + centroids + stream + int(GROWTH * n * (_codes(dim)[-1][1] + 8)))
    raise RevsearchError(f"an index of {n:,} vectors of dimension {dim} needs at least "
                         f"{smallest / GIB:.1f} GB; raise --index-memory")


def _codes(dim: int) -> list[tuple[str, int]]:
    """Codes from best to smallest: SQ8, then PQ with d/2, d/4, … one-byte sub-quantisers (m must divide d)."""
    out = [("SQ8", dim)]
    for div in (2, 4, 5, 8, 10, 16, 20, 32, 40, 64):
        m = dim // div
        if dim % div == 0 and m >= 8 and m not in {b for _, b in out}:
            out.append((f"PQ{m}", m))
    return out
