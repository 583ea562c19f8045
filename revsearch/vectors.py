"""Vector helpers shared by search, clusters, the map and the index (and its benchmarks)."""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (all-zero rows stay zero), as float32: cosine similarity becomes a dot product."""
    x = np.asarray(x)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def recall_at_k(got: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids (a row per query) found in the returned top-k: how near an approximate
    search comes to the exact one."""
    return float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(got.tolist(), truth.tolist())]))
