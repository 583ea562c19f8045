"""The learned space of a collection: revsearch/learning/ wired to a collection's labels, vectors and files.

Training labels are the ones a person gave: by hand, by import and by naming a cluster. Accepted suggestions are not
(they are the model's own guesses; training on them would only confirm its mistakes), though they do count as
labelled, so they are never suggested again.

`learn` trains a head (learning/head.py), validates it by k-fold on the labelled images and keeps it only when it
beats the raw vectors on held-out labels. The head is stored as `<collection>/head-<digest>.npz` (written atomically,
read without pickle) and the catalog's meta value `learned_head` names it, written after the file; older heads are
removed after that. `<digest>` identifies the training labels, so "labels changed since" is a digest comparison. A
head trained for other model weights is ignored. A stale head (labels changed since) is still used until retrained.

Search, clusters, the map and feedback queries take vectors through `space_vectors` / `space_search`: the learned
space when a usable head exists, the raw one otherwise. Exact copies and near-duplicates stay on raw vectors.
Up to LEARNED_INDEX_LIMIT images the learned index is built in memory per (generation, head) from the stored vectors
(a matrix product, no decoding), streamed within the collection's index memory budget. Past it a second index would
cost minutes and gigabytes (1M × 1290-d: 5 GB, an IVF build of ~12 min), so learned_search.py answers from the raw
index and the class half of every image's learned vector, kept in memory (a few bytes per image).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np

from revsearch import learned_search
from revsearch.collection import Collection, label_store, sampling, vector_index
from revsearch.collection.snapshot import VectorSnapshot
from revsearch.errors import RevsearchError
from revsearch.learning import calibrate, head as head_mod, review as review_mod, validate
from revsearch.learning.head import Head
from revsearch.learning.labelset import LabelSet, NotEnoughLabels
from revsearch.neighbours import streamed_index
from revsearch.progress import Progress, report
from revsearch.vectors import unit_rows

TRAIN_SOURCES = ("manual", "import", "cluster")
META_HEAD = "learned_head"  # file name of the head in use, "" when none
META_RESULT = "learned_result"  # JSON: the last learn's result and the digest of the labels it saw
HEAD_PREFIX = "head-"
SPACES = ("learned", "raw")
LABEL_SET_LIMIT = 20_000  # unlabelled images a label set holds at most (a seeded sample past that)
LEARNED_INDEX_LIMIT = 200_000  # images up to which the learned space gets an index of its own

log = logging.getLogger(__name__)


@dataclass
class LearnResult:
    used: bool  # the head beats raw on held-out labels and is now used
    labels: int  # labelled images used
    classes: int
    raw_map: float | None  # held-out mAP, raw vectors
    learned_map: float | None  # held-out mAP, learned space
    gain: float | None  # relative: learned/raw - 1 (0.25 = "25 % better")
    message: str  # one sentence for a person
    seconds: float

    def as_dict(self) -> dict:
        d = asdict(self)
        for key in ("raw_map", "learned_map", "gain"):
            d[key] = None if d[key] is None else round(d[key], 4)
        d["seconds"] = round(self.seconds, 3)
        return d


@dataclass(frozen=True)
class ReviewItem:
    id: int
    path: str
    suggested: str | None
    confidence: float

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "suggested": self.suggested,
                "confidence": round(self.confidence, 4)}


# ---------------------------------------------------------------------------------------------------- labels


def training_labels(coll: Collection) -> dict[int, str]:
    """image id -> label for the labels learning trains on (see TRAIN_SOURCES)."""
    return {r.id: r.label for r in label_store.label_rows(coll) if r.source in TRAIN_SOURCES}


def label_digest(labels: dict[int, str]) -> str:
    """Identifies a set of training labels (the head's label-set version)."""
    text = "\n".join(f"{i}\t{labels[i]}" for i in sorted(labels))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def label_set(coll: Collection, labels: dict[int, str], limit: int = LABEL_SET_LIMIT) -> LabelSet:
    """Every labelled image, and the unlabelled ones — or, past `limit` of them, a seeded random sample of `limit`
    (a million vectors would be 5 GB in RAM): learning reads a few thousand unlabelled vectors anyway, and review
    and suggestions choose among the sample. The sample is fixed for a given collection, so pages do not jump."""
    with coll.reading():
        if coll.counts()["indexed"] - len(labels) <= limit:
            ids, vectors = coll.vectors()
        else:
            labelled = np.fromiter(labels, dtype=np.int64, count=len(labels))
            drawn = sampling.sample_indexed(coll, limit + len(labels), np.random.default_rng(0))
            unlabelled = drawn[~np.isin(drawn, labelled)][:limit]
            ids, vectors = coll.vectors(np.union1d(unlabelled, labelled).tolist())  # present, indexed only
    return LabelSet.build(ids, vectors, labels)


# ---------------------------------------------------------------------------------------------------- learning


def learn(coll: Collection, progress: Progress | None = None) -> LearnResult:
    """Train, validate and (when it wins on held-out labels) store the head; the result says what changed."""
    started = time.perf_counter()
    report(progress, 0, 4, "reading labels and vectors")
    labels = training_labels(coll)
    digest = label_digest(labels)
    labelset = label_set(coll, labels)
    n, classes = int(labelset.labelled.sum()), len(labelset.classes)
    try:
        labelset.require()
    except NotEnoughLabels as exc:
        result = LearnResult(False, n, classes, None, None, None, _not_enough(coll, str(exc)),
                             time.perf_counter() - started)
        _record(coll, result, digest)
        return result
    report(progress, 1, 4, f"training on {n} labels")
    trained = head_mod.train(labelset, label_version=digest, model_fingerprint=coll.fingerprint)
    report(progress, 2, 4, "validating on held-out labels")
    validation = validate.validate(labelset)
    suggester = calibrate.build(labelset, trained, validation)
    trained.meta["calibration"] = {"temperature": suggester.temperature, "centre": suggester.centre,
                                   "slope": suggester.slope}
    trained.meta["validation"] = validation.as_dict()
    coll.derived("suggester", digest, lambda: (labelset, suggester))  # suggestions need not train it again
    report(progress, 3, 4, "storing")
    raw, learned, gain = validation.raw_map, validation.learned_map, validation.gain
    if validation.use_head:
        message = (f"your {n} labels made search {gain:.0%} better on held-out images "
                   f"(mAP {raw:.2f} → {learned:.2f}); search, clusters, the map and suggestions now use them")
    else:
        message = (f"your {n} labels did not make search better on held-out images (mAP {raw:.2f} raw, "
                   f"{learned:.2f} learned): search stays on the pretrained vectors; label more images")
    result = LearnResult(validation.use_head, n, classes, raw, learned, gain, message, 0.0)
    _store(coll, trained if validation.use_head else None)
    result.seconds = time.perf_counter() - started
    _record(coll, result, digest)
    if validation.use_head:  # built now, so the next search does not wait for it
        found = active_head(coll)
        if reranked(coll, found):
            learned_search.table_for(coll, found)
        else:
            space_index(coll, found)
    report(progress, 4, 4, "done")
    return result


def retrain_if_stale(coll: Collection, progress: Progress | None = None) -> LearnResult | None:
    """What the app runs in the background after a labelling action: `learn` when the training labels changed
    since the last attempt, else None at once."""
    last = _last(coll)
    if last and last.get("digest") == label_digest(training_labels(coll)):
        return None
    return learn(coll, progress)


def _not_enough(coll: Collection, why: str) -> str:
    unused = sum(1 for r in label_store.label_rows(coll) if r.source not in TRAIN_SOURCES)
    note = f" ({unused} labels from accepted suggestions do not count)" if unused else ""
    return f"nothing learned: {why}{note}"


def _store(coll: Collection, trained: Head | None) -> None:
    """Write the head file, then point the catalog at it, then remove older heads and their learned search tables
    (None: use no head)."""
    name = ""
    if trained is not None:
        name = f"{HEAD_PREFIX}{trained.meta['label_version']}.npz"
        trained.save(coll.directory / name)
    coll.set_meta({META_HEAD: name})
    table = f"{learned_search.TABLE_PREFIX}{trained.meta['label_version']}.npz" if trained is not None else ""
    for prefix in (HEAD_PREFIX, learned_search.TABLE_PREFIX):
        for old in coll.directory.glob(f"{prefix}*.npz"):
            if old.name not in (name, table):
                old.unlink(missing_ok=True)


def _record(coll: Collection, result: LearnResult, digest: str) -> None:
    coll.set_meta({META_RESULT: json.dumps({**result.as_dict(), "digest": digest, "at": time.time()})})


def _last(coll: Collection) -> dict | None:
    try:
        data = json.loads(coll.meta(META_RESULT) or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------------- the head


def active_head(coll: Collection) -> Head | None:
    """The stored head, if there is one trained for this collection's model (stale ones included)."""
    name = coll.meta(META_HEAD) or ""
    if not name:
        return None
    path = coll.directory / name
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    found = coll.derived("learned head", (name, mtime), lambda: _load_head(path))
    if found is None or found.meta.get("model_fingerprint") != coll.fingerprint or found.dim_in != coll.dim:
        return None
    return found


def _load_head(path: Path) -> Head | None:
    try:
        return head_mod.load(path)
    except RevsearchError as exc:
        log.warning("%s; searching the pretrained vectors", exc)
        return None


def status(coll: Collection) -> dict:
    """{"head", "current", "labels", "gain", "message", "trained_at"} for the app's and the CLI's summaries."""
    found = active_head(coll)
    labels = training_labels(coll)
    last = _last(coll) or {}
    out = {"head": found is not None, "current": False, "labels": len(labels), "gain": None,
           "message": "", "trained_at": None}
    if found is None:
        stale_file = bool(coll.meta(META_HEAD))
        out["message"] = ("the learned space was made for other model weights and is ignored; run learn again"
                          if stale_file else last.get("message") or
                          "search uses the pretrained vectors: label images of two or more kinds, then learn")
        return out
    out["current"] = found.meta.get("label_version") == label_digest(labels)
    out["gain"] = found.meta.get("validation", {}).get("gain")
    out["trained_at"] = found.meta.get("trained_at")
    then = int(sum(found.meta.get("counts", [])))
    out["message"] = (last.get("message", "") if out["current"] else
                      f"labels changed since the learned space was trained ({then} labels then, {len(labels)} now): "
                      f"search still uses it until you learn again")
    return out


def resolve(coll: Collection, space: str | None) -> Head | None:
    """The head a query in `space` uses: None for 'raw' or when no usable head exists ('learned' is the default)."""
    if space not in (None, *SPACES):
        raise RevsearchError(f"unknown space {space!r}; choose one of {', '.join(SPACES)}")
    return None if space == "raw" else active_head(coll)


def project(found: Head | None, vectors: np.ndarray) -> np.ndarray:
    """Raw vectors in the space of `found` (unchanged, as float32, when None)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors if found is None or len(vectors) == 0 else head_mod.apply(found, vectors)


def space_vectors(coll: Collection, vectors: np.ndarray) -> np.ndarray:
    """Raw vectors re-projected into the collection's learned space (raw when it has none)."""
    return project(active_head(coll), vectors)


def space_key(coll: Collection) -> str:
    """Names the space maps are laid out in: 'raw', or the learned head's classes (a retrain on more labels of the
    same kinds keeps the layout; a new kind changes it)."""
    found = active_head(coll)
    return "raw" if found is None else "learned:" + "\x1f".join(found.classes)


def comparable(coll: Collection, vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, centroids) in one space: the current one when the centroids were made in it, else the raw one —
    a learned vector's first `dim` components are its raw vector, so learned centroids fall back to that part."""
    projected = space_vectors(coll, vectors)
    if projected.shape[1] == centroids.shape[1]:
        return projected, centroids
    return np.asarray(vectors, dtype=np.float32), unit_rows(centroids[:, : coll.dim])


#: Candidates past the k asked for that are scored again on the stored vectors (`space_search`).
RESCORE_EXTRA = 10


def reranked(coll: Collection, found: Head | None) -> bool:
    """Whether a search in the space of `found` scores raw-index candidates (learned_search.py) instead of using an
    index of its own."""
    return found is not None and coll.index().ntotal > LEARNED_INDEX_LIMIT


def space_search(coll: Collection, found: Head | None, queries: np.ndarray,
                 fetch: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) [len(queries), ≤ fetch] of queries already in the space of `found`, best first; ids -1 pad.

    The index's codes (float16, or 8-bit past the exact limit) only choose the candidates: `fetch` + RESCORE_EXTRA
    of them are scored again on the catalog's vectors, so the scores are exact (an image found by itself scores 1,
    distance 0) and ranks that the codes blur by ~1e-5 come out right."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not reranked(coll, found):
        index = space_index(coll, found)
        _, ids = vector_index.search(index, queries, min(fetch + RESCORE_EXTRA, index.ntotal))
    else:
        _, ids = learned_search.search(coll.index(), learned_search.table_for(coll, found), found.dim_in, queries,
                                       fetch + RESCORE_EXTRA)
    return _rescored(coll, found, queries, ids, fetch)


def _rescored(coll: Collection, found: Head | None, queries: np.ndarray, ids: np.ndarray, fetch: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """The best `fetch` of each row's candidate `ids`, scored on the stored vectors in the space of `found`."""
    known, vectors = coll.vectors(np.unique(ids[ids >= 0]).tolist())  # an image removed meanwhile drops out
    space = project(found, vectors)
    row_of = {int(i): n for n, i in enumerate(known)}
    scores = np.full((len(queries), fetch), -np.inf, dtype=np.float32)
    out = np.full((len(queries), fetch), -1, dtype=np.int64)
    for n, query in enumerate(queries):
        cand = [int(i) for i in ids[n] if int(i) in row_of]
        exact = space[[row_of[i] for i in cand]] @ query if cand else np.zeros(0, np.float32)
        top = np.argsort(-exact, kind="stable")[:fetch]
        scores[n, : len(top)], out[n, : len(top)] = exact[top], np.asarray(cand, np.int64)[top]
    return scores, out


def space_index(coll: Collection, found: Head | None) -> faiss.Index:
    """The index to search in the space of `found` (a head from `resolve`): the collection's own for None (raw)."""
    if found is None:
        return coll.index()
    return coll.derived("learned index", (found.meta.get("label_version"), coll.fingerprint),
                        lambda: _build_space_index(coll, found))


def _build_space_index(coll: Collection, found: Head) -> faiss.Index:
    """The learned space's index, its vectors streamed through the head from a snapshot of the catalog, chunk by
    chunk, within the collection's index memory budget."""
    with coll.snapshot() as snap:
        return streamed_index(Projected(snap, found), found.dim_out, coll.index_memory)[0]


class Projected:
    """A catalog snapshot seen through a head: the vector source an index build of the learned space reads."""

    def __init__(self, snap: VectorSnapshot, found: Head) -> None:
        self.snap, self.found, self.n = snap, found, snap.n

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return head_mod.apply(self.found, self.snap.sample(count, rng))

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, vectors in self.snap.batches(size):
            yield ids, head_mod.apply(self.found, vectors)


# ---------------------------------------------------------------------------------------------------- suggestions


def suggester(coll: Collection, wait: bool = True) -> tuple[LabelSet, calibrate.Suggester | None]:
    """The training label set and a calibrated suggester for it (None without labels): the stored head's when it is
    current, else trained here (kept in memory per generation and labels; `learn` is what stores a head).

    `wait=False` takes the one this handle holds (for older labels, while a background job retrains) instead of
    training one (a page that must answer at once): its label set may miss the newest labels."""
    labels = training_labels(coll)
    digest = label_digest(labels)
    if not wait and (held := coll.peek_derived("suggester", digest)) is not None:
        return held[0]
    return coll.derived("suggester", digest, lambda: _build_suggester(coll, labels))


def _build_suggester(coll: Collection, labels: dict[int, str]) -> tuple[LabelSet, calibrate.Suggester | None]:
    digest = label_digest(labels)
    labelset = label_set(coll, labels)
    found = active_head(coll)
    calibration = found.meta.get("calibration") if found is not None else None
    if not labelset.labelled.any():
        built = None
    elif found is not None and calibration and found.meta.get("label_version") == digest:
        built = calibrate.Suggester(list(labelset.classes), found, calibration["temperature"],
                                    calibration["centre"], calibration["slope"], labelset.vectors[labelset.labelled])
    elif len(labelset.classes) == 1:
        built = calibrate.build(labelset)
    else:
        try:
            labelset.require()
            built = calibrate.build(labelset, head_mod.train(labelset), validate.validate(labelset))
        except NotEnoughLabels:  # kinds with one example: an uncalibrated probe, prior known-ness
            probe = Head(*head_mod.fit_params(labelset), meta={"classes": list(labelset.classes)})
            built = calibrate.Suggester(list(labelset.classes), probe, 1.0, calibrate.PRIOR_CENTRE,
                                        calibrate.PRIOR_SLOPE, labelset.vectors[labelset.labelled])
    return labelset, built


def review(coll: Collection, n: int, wait: bool = True) -> list[ReviewItem]:
    """The n images to label next (never ones already labelled by a person), most useful first. `wait=False`: chosen
    by the newest suggester at hand (see `suggester`), the images labelled since it was made left out."""
    labelset, built = suggester(coll, wait)
    try:
        labelset.require()
    except NotEnoughLabels:
        built = None  # first rounds: cover the collection rather than probe one label's border
    hand = set(training_labels(coll))
    since = len(hand - set(labelset.ids[labelset.labelled].tolist()))  # labelled after the label set was read
    items = review_mod.select(labelset, n + since, built)[: n + since]
    paths = coll.paths([i.id for i in items])
    return [ReviewItem(i.id, paths.get(i.id, ""), i.suggested, i.confidence) for i in items if i.id not in hand][:n]

