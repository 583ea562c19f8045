"""Transductive smoothing: class scores spread over the k-NN graph of the collection's own vectors.

Neighbours in the pretrained space are usually the same kind of thing even where a linear probe errs, so averaging
the probe's class probabilities over the graph (Zhou et al. 2004, label spreading with the probe as prior) fixes
part of its mistakes: on clothing-small at 20 labels/class, +1–2 points of accuracy over the probe alone.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from revsearch.neighbours import knn

NEIGHBOURS = 10
SHARPNESS = 3  # edge weight = cos^3: close neighbours count much more than the 10th
ALPHA = 0.8  # share of the neighbours' scores vs the node's own prior
ITERATIONS = 20


def knn_graph(vectors: np.ndarray, k: int = NEIGHBOURS) -> sparse.csr_matrix:
    """Symmetric, degree-normalised k-NN affinity matrix D^-1/2 W D^-1/2 over L2-normalised vectors."""
    n = len(vectors)
    k = min(k, n - 1)
    sims, nbrs = knn(vectors, vectors, k + 1)
    rows = np.repeat(np.arange(n), k + 1)
    weights = np.maximum(sims, 0).ravel() ** SHARPNESS
    keep = (nbrs.ravel() >= 0) & (nbrs.ravel() != rows)
    w = sparse.csr_matrix((weights[keep], (rows[keep], nbrs.ravel()[keep])), shape=(n, n))
    w = w + w.T
    inv = 1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel() + 1e-9)
    return sparse.diags(inv) @ w @ sparse.diags(inv)


def spread(graph: sparse.csr_matrix, prior: np.ndarray, alpha: float = ALPHA,
           iterations: int = ITERATIONS) -> np.ndarray:
    """Row-normalised scores F = α·G·F + (1-α)·prior, iterated from the prior."""
    scores = prior.astype(np.float32)
    for _ in range(iterations):
        scores = alpha * (graph @ scores) + (1 - alpha) * prior
    return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)
