"""The labelled part of a collection as arrays, and the checks that say when there is too little to learn from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from revsearch.errors import RevsearchError


class NotEnoughLabels(RevsearchError):
    """Learning refused for a reason the person can fix by labelling more (the message says what to label)."""


@dataclass(frozen=True)
class LabelSet:
    """The vectors of a collection (every labelled image; all or a sample of the others) and their labels.

    `ids[i]`, `vectors[i]` describe image i; `codes[i]` is its class index into `classes`, or -1 when unlabelled.
    Classes are sorted by name so a label set always maps to the same codes."""

    ids: np.ndarray  # int64 [n]
    vectors: np.ndarray  # float32 [n, d], rows L2-normalised
    codes: np.ndarray  # int64 [n], -1 = unlabelled
    classes: tuple[str, ...]

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, labels: Mapping[int, str]) -> "LabelSet":
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise RevsearchError(f"ids ({len(ids)}) and vectors {vectors.shape} do not match")
        names = [labels.get(int(i)) for i in ids]
        classes = tuple(sorted({n for n in names if n is not None}))
        index = {c: k for k, c in enumerate(classes)}
        codes = np.array([index[n] if n is not None else -1 for n in names], dtype=np.int64)
        return cls(ids, vectors, codes, classes)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the labelled rows."""
        return self.codes >= 0

    def counts(self) -> np.ndarray:
        """Labelled images per class, in `classes` order."""
        return np.bincount(self.codes[self.labelled], minlength=len(self.classes))

    def require(self, min_classes: int = 2, min_per_class: int = 2) -> None:
        """Raise NotEnoughLabels unless at least `min_classes` labels have `min_per_class` images each."""
        counts = self.counts()
        usable = int((counts >= min_per_class).sum())
        if not self.labelled.any():
            raise NotEnoughLabels("no labelled images yet: label a few images of at least two kinds first")
        if len(self.classes) < min_classes:
            raise NotEnoughLabels(f"only one label ({self.classes[0]!r}) is used: learning needs at least "
                                  f"{min_classes} different labels to tell apart")
        if usable < min_classes:
            short = [c for c, n in zip(self.classes, counts) if n < min_per_class]
            raise NotEnoughLabels(f"too few examples: at least {min_classes} labels need {min_per_class}+ images "
                                  f"each (too few so far: {', '.join(short[:5])})")
