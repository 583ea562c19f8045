"""Neighbours and k-means over vectors held in memory: the one place that builds a flat index or runs k-means.

Vectors are L2-normalised, so the inner product is the cosine. A collection's own (persistent, possibly approximate)
index is `Collection.index()`; this module is for the exact searches over arrays that the method needs on the side:
a k-NN graph, the labelled neighbours of a suggestion, near-duplicate pairs, centres of clusters. `ann_index` builds
the index a collection of the given vectors would build (exact, or IVF with a calibrated nprobe) without a catalog, for
benchmarks at sizes no catalog here could hold; `streamed_index` the same from vectors read chunk by chunk within a
memory budget, for a derived space (learned.py).
"""

from __future__ import annotations

from typing import Iterator

import faiss
import numpy as np

from revsearch.collection import vector_index
from revsearch.vectors import unit_rows

POINTS_PER_CENTROID = 256  # k-means trains on at most this many points per centroid (a seeded sample)


def _rows(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def flat_index(vectors: np.ndarray) -> faiss.IndexFlatIP:
    """An exact inner-product index over `vectors` (row numbers are the ids)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(_rows(vectors))
    return index


def ann_index(ids: np.ndarray, vectors: np.ndarray, exact_limit: int | None = None
              ) -> tuple[faiss.Index, vector_index.IndexInfo]:
    """The index a collection holding `vectors` under `ids` builds (exact up to `exact_limit` vectors, default the
    collection's; IVF past it), ready to search, with how it was built and its calibrated recall."""
    index, info = vector_index.build(ids, vectors, vectors.shape[1], exact_limit=exact_limit)
    vector_index.set_search_params(index, info)
    return index, info


def streamed_index(source: vector_index.VectorSource, dim: int, budget: int | None
                   ) -> tuple[faiss.Index, vector_index.IndexInfo]:
    """The index a collection builds, from vectors read chunk by chunk (never all in RAM) and sized to `budget`
    bytes, ready to search: for a derived space computed on the fly (learned.py's)."""
    index, info = vector_index.build_from(source, dim, budget=budget)
    vector_index.set_search_params(index, info)
    return index, info


def knn(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, rows of `base`) of each query's k nearest base vectors, best first (k capped at len(base))."""
    return flat_index(base).search(_rows(queries), min(k, len(base)))


def within(vectors: np.ndarray, threshold: float,
           chunk: int) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Every vector's neighbours among all with a cosine ≥ `threshold`, `chunk` queries at a time: (first query row,
    lims, cosines, rows) per chunk, as faiss range search gives them (query q's are [lims[q], lims[q+1]))."""
    index = flat_index(vectors)
    radius = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))  # faiss keeps scores > radius
    for start in range(0, len(vectors), chunk):
        yield start, *index.range_search(_rows(vectors[start : start + chunk]), radius)


def spherical_kmeans(vectors: np.ndarray, k: int, seed: int, niter: int = 20, nredo: int = 1) -> np.ndarray:
    """k unit centroids of spherical k-means (cosine), the best of `nredo` seeded starts; deterministic for the same
    vectors, k and seed."""
    x = _rows(vectors)
    km = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, seed=int(seed), spherical=True, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=POINTS_PER_CENTROID)
    km.train(x)
    return unit_rows(km.centroids)


def nearest(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the most similar centroid, its cosine) for each vector."""
    sims = vectors @ centroids.T
    assign = sims.argmax(axis=1)
    return assign, sims[np.arange(len(vectors)), assign]
