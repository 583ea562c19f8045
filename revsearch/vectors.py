"""Vector helpers shared by search, clusters and the map."""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (all-zero rows stay zero), as float32: cosine similarity becomes a dot product."""
    x = np.asarray(x)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
