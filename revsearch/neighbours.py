"""Neighbours and k-means over vectors held in memory: the one place that builds a flat index or runs k-means.

Vectors are L2-normalised, so the inner product is the cosine. A collection's own (persistent, possibly approximate)
index is `Collection.index()`; this module is for the exact searches over arrays that the method needs on the side:
a k-NN graph, the labelled neighbours of a suggestion, near-duplicate pairs, centres of clusters.
"""

from __future__ import annotations

from typing import Iterator

import faiss
import numpy as np

from revsearch.vectors import unit_rows

POINTS_PER_CENTROID = 256  # k-means trains on at most this many points per centroid (a seeded sample)


def _rows(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def flat_index(vectors: np.ndarray) -> faiss.IndexFlatIP:
    """An exact inner-product index over `vectors` (row numbers are the ids)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(_rows(vectors))
    return index


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
