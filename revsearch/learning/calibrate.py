"""Suggestions whose confidence means probability, with room for "none of the known labels".

confidence(image, label) = P(known kind | image) · P(label | image, known kind)
- P(label | known) is the head's softmax at a temperature fitted (minimum NLL) on out-of-fold logits from
  validate.py, so it is calibrated on labels the heads never saw.
- P(known) is a logistic curve on how close the image is to the labelled ones (mean cosine of its KNOWN_K nearest
  labelled images, raw space). With 3+ labels it is fitted by leave-one-label-out on the held-out folds: images of
  a hidden label are examples of "none of these". With fewer it keeps the prior below, measured on clothing-small,
  so one label (or a lasso with a stray image) cannot pull every other kind of image to ≥ 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revsearch.learning import probe
from revsearch.learning.head import Head
from revsearch.learning.labelset import LabelSet, NotEnoughLabels
from revsearch.learning.validate import Validation, fold_of
from revsearch.neighbours import knn

KNOWN_K = 3
PRIOR_CENTRE = 0.80  # similarity at which P(known) = 0.5 without held-out labels to fit it
PRIOR_SLOPE = 0.04  # width of that curve (cosine units)
TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 41))


@dataclass
class Suggester:
    """What `suggest` needs: the class model (a head or a single label), its temperature and the known-ness curve."""

    classes: list[str]
    head: Head | None  # None when only one label exists
    temperature: float
    centre: float
    slope: float
    labelled_vectors: np.ndarray  # raw vectors of the labelled images (for the known-ness similarity)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """[n, C+1] probabilities: one column per label, the last is "none of the known labels"."""
        known = sigmoid((closeness(vectors, self.labelled_vectors) - self.centre) / self.slope)
        if self.head is None:
            kinds = np.ones((len(vectors), 1), dtype=np.float32)
        else:
            kinds = probe.softmax(self.head.logits(vectors) / self.temperature)
        return np.hstack([kinds * known[:, None], (1 - known)[:, None]]).astype(np.float32)

    def best(self, vectors: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """The most probable label of each vector (None if "none" wins) and its probability."""
        p = self.probabilities(vectors)
        top = p.argmax(axis=1)
        names = [self.classes[t] if t < len(self.classes) else None for t in top]
        return names, p[np.arange(len(p)), top]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def closeness(vectors: np.ndarray, labelled: np.ndarray, k: int = KNOWN_K) -> np.ndarray:
    """Mean cosine of each vector's k nearest labelled vectors."""
    sims, _ = knn(labelled, vectors, k)
    return sims.mean(axis=1)


def fit_temperature(logits: np.ndarray, codes: np.ndarray) -> float:
    """The temperature minimising held-out negative log-likelihood."""
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        p = probe.softmax(logits / t)
        nll = -np.log(np.maximum(p[np.arange(len(codes)), codes], 1e-12)).mean()
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def fit_known(labelset: LabelSet, seed: int = 0) -> tuple[float, float]:
    """(centre, slope) of P(known) by leave-one-label-out: held-out images of seen labels are 'known', all images of
    the hidden label are 'none'. The prior when there are fewer than 3 labels."""
    rows = np.flatnonzero(labelset.labelled)
    codes = labelset.codes[rows]
    classes = np.unique(codes)
    if len(classes) < 3:
        return PRIOR_CENTRE, PRIOR_SLOPE
    x = labelset.vectors[rows]
    fold = fold_of(codes, 2, seed)
    sims, targets = [], []
    for hidden in classes:
        base = (codes != hidden) & (fold == 0)
        probe_rows = (fold == 1) | (codes == hidden)
        if base.sum() < KNOWN_K:
            continue
        sims.append(closeness(x[probe_rows], x[base]))
        targets.append((codes[probe_rows] != hidden).astype(np.float64))
    if not sims:  # too few labels per kind to hold any out (e.g. 3 labels × 2 images): keep the prior
        return PRIOR_CENTRE, PRIOR_SLOPE
    s, t = np.concatenate(sims), np.concatenate(targets)
    if t.min() == t.max():
        return PRIOR_CENTRE, PRIOR_SLOPE
    best, best_nll = (PRIOR_CENTRE, PRIOR_SLOPE), np.inf
    for centre in np.linspace(0.4, 0.95, 56):
        for slope in (0.01, 0.02, 0.03, 0.04, 0.06, 0.08):
            p = np.clip(sigmoid((s - centre) / slope), 1e-6, 1 - 1e-6)
            nll = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
            if nll < best_nll:
                best, best_nll = (float(centre), slope), nll
    return best


def build(labelset: LabelSet, head: Head | None = None, validation: Validation | None = None,
          seed: int = 0) -> Suggester:
    """A calibrated suggester. One label alone → known-ness only; 2+ labels need a head and its validation."""
    if not labelset.labelled.any():
        raise NotEnoughLabels("no labelled images yet: label a few images first")
    labelled_vectors = labelset.vectors[labelset.labelled]
    if len(labelset.classes) == 1:
        return Suggester(list(labelset.classes), None, 1.0, PRIOR_CENTRE, PRIOR_SLOPE, labelled_vectors)
    if head is None or validation is None:
        raise ValueError("two or more labels: pass the head and its validation")
    oof_codes = labelset.codes[validation.oof_rows]
    seen = np.abs(validation.oof_logits).sum(axis=1) > 0
    temperature = fit_temperature(validation.oof_logits[seen], oof_codes[seen]) if seen.any() else 1.0
    centre, slope = fit_known(labelset, seed)
    return Suggester(list(labelset.classes), head, temperature, centre, slope, labelled_vectors)
