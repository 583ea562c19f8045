"""What to label next: cover the collection first, then ask where the model is least sure.

Round one (fewer than two labels with two images each): the images nearest the centres of a k-means over the
unlabelled vectors, so the first answers span every kind of image. Later rounds: the POOL·n least confident
unlabelled images (lowest best probability, "none" included), clustered into n groups, and the least confident of
each group, so one round does not spend all its questions on one confusing corner. Labelled images are never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from revsearch.errors import RevsearchError
from revsearch.learning.calibrate import Suggester
from revsearch.learning.labelset import LabelSet

POOL = 4


@dataclass(frozen=True)
class ReviewItem:
    row: int  # index into the label set
    id: int
    suggested: str | None
    confidence: float

    def as_dict(self) -> dict:
        return {"id": self.id, "suggested": self.suggested, "confidence": round(self.confidence, 4)}


def representatives(vectors: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of the vectors nearest the n k-means centres (distinct; fewer only if there are fewer vectors)."""
    if n >= len(vectors):
        return np.arange(len(vectors))
    km = faiss.Kmeans(vectors.shape[1], n, niter=20, seed=seed, spherical=True, verbose=False,
                      min_points_per_centroid=1)
    km.train(np.ascontiguousarray(vectors, dtype=np.float32))
    sims = km.centroids @ vectors.T
    chosen: list[int] = []
    for row in np.argsort(-sims, axis=1):
        pick = next(int(i) for i in row if int(i) not in chosen)
        chosen.append(pick)
    return np.array(chosen)


def select(labelset: LabelSet, n: int, suggester: Suggester | None = None, seed: int = 0) -> list[ReviewItem]:
    """The n unlabelled images to ask about next, most useful first (representatives while no suggester)."""
    if n < 1:
        raise RevsearchError("review needs n ≥ 1")
    unl = np.flatnonzero(~labelset.labelled)
    if len(unl) == 0:
        return []
    vectors = labelset.vectors[unl]
    if suggester is None:
        picks = representatives(vectors, min(n, len(unl)), seed)
        return [ReviewItem(int(unl[p]), int(labelset.ids[unl[p]]), None, 0.0) for p in picks]
    names, conf = suggester.best(vectors)
    pool = np.argsort(conf, kind="stable")[: min(len(unl), POOL * n)]
    if len(pool) > n:
        groups = representatives(vectors[pool], n, seed)  # group centres; pool members join the nearest
        assign = np.argmax(vectors[pool] @ vectors[pool][groups].T, axis=1)
        picks = [pool[np.flatnonzero(assign == g)][np.argmin(conf[pool[assign == g]])] for g in range(len(groups))]
    else:
        picks = list(pool)
    picks = sorted(picks, key=lambda p: conf[p])
    return [ReviewItem(int(unl[p]), int(labelset.ids[unl[p]]), names[p], float(conf[p])) for p in picks]
