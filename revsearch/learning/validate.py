"""k-fold validation on the labelled images: does the learned space beat the raw one on labels it never saw?

Each fold's labels are hidden, a head is trained on the rest (the hidden images stay in as unlabelled vectors, as
they would be in the collection), and each hidden image queries all labelled images in both spaces (relevant = same
label). The mean AP over hidden images, raw vs learned, is the number the person sees ("your N labels made search
X % better on held-out images"); the head is used only when it wins by at least MIN_GAIN. The out-of-fold logits
are kept: they calibrate the suggestions (calibrate.py) without a second round of training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revsearch.learning import head as head_mod
from revsearch.learning.labelset import LabelSet

FOLDS = 5
MIN_GAIN = 0.01  # absolute mAP: below this the head is not worth the change of space
# Beyond this many labelled images, validation runs on a stratified sample of them (the rest count as unlabelled):
# k trainings on 10k labels would cost k times the head itself, and 2,000 held-out queries already pin the gain down
# to about ±0.01. The measured gain is then the gain of ~1,600 labels, a lower bound for the full set. Each fold's
# transductive step likewise samples at most MAX_VALIDATED unlabelled images.
MAX_VALIDATED = 2000


@dataclass
class Validation:
    raw_map: float
    learned_map: float
    queries: int
    folds: int
    oof_rows: np.ndarray  # row indices (into the label set) of the labelled images
    oof_logits: np.ndarray  # [len(oof_rows), C] logits from heads that never saw that image's label

    @property
    def gain(self) -> float:
        """Relative improvement of held-out mAP (0.25 = 25 % better)."""
        return self.learned_map / self.raw_map - 1.0 if self.raw_map > 0 else 0.0

    @property
    def use_head(self) -> bool:
        return self.learned_map >= self.raw_map + MIN_GAIN

    def as_dict(self) -> dict:
        return {"raw_mAP": round(self.raw_map, 4), "learned_mAP": round(self.learned_map, 4),
                "gain": round(self.gain, 4), "queries": self.queries, "folds": self.folds,
                "use_head": self.use_head}


def fold_of(codes: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A stratified fold number for every labelled code (each class spread round-robin over the folds)."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(codes), dtype=np.int64)
    offset = 0
    for c in np.unique(codes):
        members = rng.permutation(np.flatnonzero(codes == c))
        out[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return out


def average_precision(query: np.ndarray, query_codes: np.ndarray, base: np.ndarray, base_codes: np.ndarray,
                      exclude: np.ndarray) -> np.ndarray:
    """AP of each query against `base`; `exclude[i]` is query i's own index in `base` (left out)."""
    sims = query @ base.T
    sims[np.arange(len(query)), exclude] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]
    relevant = base_codes[order] == query_codes[:, None]
    hits = np.cumsum(relevant, axis=1)
    n_rel = relevant.sum(axis=1)
    ap = (hits / np.arange(1, order.shape[1] + 1) * relevant).sum(axis=1) / np.maximum(n_rel, 1)
    return ap[n_rel > 0]


def validate(labelset: LabelSet, folds: int = FOLDS, seed: int = 0,
             max_unlabelled: int = head_mod.MAX_UNLABELLED) -> Validation:
    """Held-out mAP raw vs learned over `folds` stratified folds of the labelled images (NotEnoughLabels if too few)."""
    labelset.require()
    rows = np.flatnonzero(labelset.labelled)
    if len(rows) > MAX_VALIDATED:
        rows = rows[head_mod.stratified_sample(labelset.codes[rows], MAX_VALIDATED, seed)]
        codes = np.full(len(labelset.codes), -1, dtype=np.int64)
        codes[rows] = labelset.codes[rows]
        labelset = LabelSet(labelset.ids, labelset.vectors, codes, labelset.classes)
    codes = labelset.codes[rows]
    folds = int(max(2, min(folds, np.bincount(codes).max())))
    fold = fold_of(codes, folds, seed)
    raw_aps: list[np.ndarray] = []
    learned_aps: list[np.ndarray] = []
    oof = np.zeros((len(rows), len(labelset.classes)), dtype=np.float32)
    base_raw = labelset.vectors[rows]
    for f in range(folds):
        held = fold == f
        if not held.any():
            continue
        train_codes = labelset.codes.copy()
        train_codes[rows[held]] = -1
        train_set = LabelSet(labelset.ids, labelset.vectors, train_codes, labelset.classes)
        if len(np.unique(train_codes[train_codes >= 0])) < 2:
            continue
        head = head_mod.Head(*head_mod.fit_params(train_set, seed, min(max_unlabelled, MAX_VALIDATED)),
                             meta={"class_weight": head_mod.CLASS_WEIGHT, "softness": head_mod.SOFTNESS})
        base_learned = head_mod.apply(head, base_raw)
        q = np.flatnonzero(held)
        raw_aps.append(average_precision(base_raw[q], codes[q], base_raw, codes, q))
        learned_aps.append(average_precision(base_learned[q], codes[q], base_learned, codes, q))
        oof[q] = head.logits(base_raw[q])
    raw = np.concatenate(raw_aps) if raw_aps else np.zeros(0)
    learned = np.concatenate(learned_aps) if learned_aps else np.zeros(0)
    return Validation(float(raw.mean()) if len(raw) else 0.0, float(learned.mean()) if len(learned) else 0.0,
                      int(len(raw)), folds, rows, oof)
