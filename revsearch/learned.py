"""TEMPORARY STAND-IN (branch wt-learnapp) of the agreed API in /work/notes/learn_api.md, so the app's pages run
before the backend lands: the backend helper's revsearch/learned.py replaces this file whole.

It validates (k-fold, revsearch.learning.validate) and records the outcome in the collection's metadata, but stores
no head: space_vectors returns the raw vectors. review() uses revsearch.learning.review with a calibrated suggester.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from revsearch import labels
from revsearch.collection import Collection
from revsearch.learning import calibrate, head as head_mod, validate
from revsearch.learning import review as review_mod
from revsearch.learning.labelset import LabelSet, NotEnoughLabels

META_KEY = "learned_standin"


@dataclass
class LearnResult:
    used: bool
    labels: int
    classes: int
    raw_map: float | None
    learned_map: float | None
    gain: float | None
    message: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ReviewItem:
    id: int
    path: str
    suggested: str | None
    confidence: float


def _labelset(coll: Collection) -> LabelSet:
    ids, vectors = coll.vectors()
    return LabelSet.build(ids, vectors, labels.labels(coll))


def learn(coll: Collection, progress: Callable | None = None) -> LearnResult:
    start = time.perf_counter()
    version = labels.version(coll)
    ls = _labelset(coll)
    n, c = int(ls.labelled.sum()), len(ls.classes)
    try:
        v = validate.validate(ls)
    except NotEnoughLabels as exc:
        result = LearnResult(False, n, c, None, None, None, f"Nothing changed: {exc}.", time.perf_counter() - start)
    else:
        used = v.use_head
        message = (f"your {n} labels made search {v.gain:.0%} better on held-out images" if used else
                   f"your {n} labels did not make search better on held-out images (mAP {v.raw_map:.2f} → "
                   f"{v.learned_map:.2f}): search keeps the pretrained vectors")
        result = LearnResult(used, n, c, v.raw_map, v.learned_map, v.gain, message, time.perf_counter() - start)
    coll.set_meta({META_KEY: json.dumps({**result.as_dict(), "label_version": version, "trained_at": time.time()})})
    return result


def status(coll: Collection) -> dict:
    stored = json.loads(coll.meta(META_KEY) or "{}")
    return {"head": bool(stored.get("used")), "current": stored.get("label_version") == labels.version(coll),
            "labels": stored.get("labels", 0), "gain": stored.get("gain"), "message": stored.get("message", ""),
            "trained_at": stored.get("trained_at")}


def space_vectors(coll: Collection, vectors: np.ndarray) -> np.ndarray:
    return vectors


_SUGGESTERS: dict[tuple[str, str], calibrate.Suggester | None] = {}


def _suggester(coll: Collection, ls: LabelSet) -> calibrate.Suggester | None:
    key = (str(coll.directory), labels.version(coll))
    if key not in _SUGGESTERS:
        try:
            if len(ls.classes) == 1:
                _SUGGESTERS[key] = calibrate.build(ls)
            else:
                _SUGGESTERS[key] = calibrate.build(ls, head_mod.train(ls), validate.validate(ls))
        except NotEnoughLabels:
            _SUGGESTERS[key] = None
    return _SUGGESTERS[key]


def review(coll: Collection, n: int) -> list[ReviewItem]:
    ls = _labelset(coll)
    items = review_mod.select(ls, n, _suggester(coll, ls))
    paths = coll.paths([i.id for i in items])
    return [ReviewItem(i.id, paths.get(i.id, ""), i.suggested, i.confidence) for i in items]
