"""Train / val / test splits that cannot leak: near-copies and exact copies always share a split, every class lands
close to the ratios, and a split once made is stable.

Grouping: images join when they are near-duplicates (revsearch/near_duplicates.py `pairs`, at the collection's
default threshold, pairs a person marked "not a duplicate" left out), exact copies of one another (a row recorded as
the duplicate of another, or the same content hash), or were in one group when split before. Whole groups are then
assigned by revsearch/stratify.py, stratified by label; unlabelled images are stratified as a class of their own.
Excluded images (revsearch/exclusions.py) take no part in the balance and get no split, but still tie groups together.

Stable: the first `make_split` assigns every image; later calls keep every stored split and assign only images
without one (new, taken back into exports, or changed in place) — a new image whose group already has a split joins
it, the others balance toward the ratios given what the kept ones hold. Only comparing the new images with the
collection is needed then (seconds at a million images). `resplit=True` starts over; other ratios need it too. A new
image that ties together groups already in different splits cannot be placed without moving an earlier image: it is
reported as a leak (never hidden), and a re-split fixes it.

Public API:
    parse_ratios("80,10,10") -> tuple[float, ...]
    make_split(coll, ratios=None, seed=None, resplit=False, progress=None, threshold=None) -> SplitReport
    update(coll, progress=None) -> SplitReport | None    assign images added since, when the collection is split
    settings(coll) -> Settings | None                    names, ratios, seed, threshold, when
    split_of(coll, ids=None) -> dict[int, str]           image id -> split
    summary(coll) -> Summary                             images per split and class (present, not excluded)
    leak_check(coll) -> dict                             groups / exact copies / near-copy pairs across splits
    remove(coll) -> int                                  forget the split (exports go back to the flat layout)
    version(coll) -> str                                 moves on every change (for caches)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from revsearch import near_duplicates, stratify
from revsearch.collection import Collection, exclusion_store, split_store
from revsearch.errors import RevsearchError
from revsearch.progress import Progress, report
from revsearch.split_groups import EXACT, NEAR, Groups, group_nodes

NAMES = {2: ("train", "test"), 3: ("train", "val", "test")}
DEFAULT_RATIOS = (80.0, 10.0, 10.0)
EXAMPLES = 10  # leaking pairs listed (by path) in a report


@dataclass(frozen=True)
class Settings:
    names: tuple[str, ...]
    ratios: tuple[float, ...]  # shares, summing to 1
    seed: int
    threshold: float  # near-duplicate similarity the groups were made at
    at: float  # unix time of the last (re-)split

    def as_dict(self) -> dict:
        return {"names": list(self.names), "ratios": dict(zip(self.names, self.ratios)), "seed": self.seed,
                "threshold": self.threshold, "at": self.at}

    def stored(self) -> dict:
        return {"names": list(self.names), "ratios": list(self.ratios), "seed": self.seed,
                "threshold": self.threshold, "at": self.at}


@dataclass(frozen=True)
class Summary:
    names: tuple[str, ...]  # () when the collection has no split
    per_split: dict[str, int]
    per_class: dict[str, dict[str, int]]  # label -> split -> images
    unlabelled: dict[str, int]  # split -> unlabelled images
    unassigned: int  # images that take part but have no split yet (added since)

    def deviation(self, ratios: Sequence[float]) -> dict[str, float]:
        """label -> the largest gap, in percentage points, between its share in a split and that split's ratio."""
        out = {}
        for label, by_split in self.per_class.items():
            n = sum(by_split.values())
            if n:
                out[label] = max(abs(100 * by_split.get(s, 0) / n - 100 * r) for s, r in zip(self.names, ratios))
        return out


@dataclass
class SplitReport:
    settings: Settings
    resplit: bool  # every split was made anew
    assigned: int  # images given a split by this call
    kept: int  # images that kept their split
    excluded: int  # images left out (excluded from exports)
    summary: Summary
    groups: dict = field(default_factory=dict)  # groups of 2+ kept together: count, images, largest, exact copies
    leaks: dict = field(default_factory=dict)  # pairs / groups across splits (0 unless a new image bridged two)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        s = self.summary
        deviation = s.deviation(self.settings.ratios)
        return {**self.settings.as_dict(), "resplit": self.resplit, "assigned": self.assigned, "kept": self.kept,
                "excluded": self.excluded, "total": sum(s.per_split.values()), "splits": s.per_split,
                "per_class": {label: {**by_split, "total": sum(by_split.values()),
                                      "deviation": round(deviation[label], 2)}
                              for label, by_split in s.per_class.items() if label in deviation},
                "unlabelled": s.unlabelled, "max_deviation": round(max(deviation.values(), default=0.0), 2),
                "groups": self.groups, "leaks": self.leaks, "seconds": round(self.seconds, 3)}


def parse_ratios(text: str | Sequence[float]) -> tuple[float, ...]:
    """'80,10,10' (train, val, test) or '80,20' (train, test): non-negative weights, train above zero."""
    try:
        values = tuple(float(v) for v in (text.split(",") if isinstance(text, str) else text))
    except ValueError:
        raise RevsearchError(f"ratios are numbers separated by commas, e.g. 80,10,10 (not {text!r})") from None
    if len(values) not in NAMES:
        raise RevsearchError("give 3 ratios (train,val,test), e.g. 80,10,10, or 2 (train,test), e.g. 80,20")
    if any(not np.isfinite(v) or v < 0 for v in values) or values[0] <= 0:
        raise RevsearchError(f"ratios must be non-negative numbers with train above zero, not {text!r}")
    return values


def settings(coll: Collection) -> Settings | None:
    stored = split_store.settings(coll)
    if stored is None:
        return None
    return Settings(tuple(stored["names"]), tuple(stored["ratios"]), int(stored["seed"]), float(stored["threshold"]),
                    float(stored["at"]))


def make_split(coll: Collection, ratios: str | Sequence[float] | None = None, seed: int | None = None,
               resplit: bool = False, progress: Progress | None = None,
               threshold: float | None = None) -> SplitReport:
    """Split the collection (first time or `resplit`), or assign the images added since the last split. `threshold`:
    the near-duplicate similarity that groups images (default: the collection's, near_duplicates.default_threshold;
    lower catches heavier edits and groups more look-alikes)."""
    started = time.perf_counter()
    stored = settings(coll)
    current = _settings(coll, stored, ratios, seed, threshold, resplit)
    full = stored is None or resplit
    nodes = split_store.nodes(coll)
    code = {name: n for n, name in enumerate(current.names)}
    fixed = np.full(len(nodes.ids), stratify.UNASSIGNED, np.int64)
    if not full:
        fixed = np.array([stratify.UNASSIGNED if s is None or stale else code.get(s, stratify.UNASSIGNED)
                          for s, stale in zip(nodes.split, nodes.stale)], np.int64)
    report(progress, 0, 3, "grouping near-copies")
    groups = group_nodes(coll, nodes, fixed, current.threshold, full, progress)
    report(progress, 2, 3, "assigning splits")
    labels = sorted({label for label in nodes.labels if label is not None})
    cls_of = {label: n for n, label in enumerate(labels)}
    cls = np.array([cls_of.get(label, len(labels)) for label in nodes.labels], np.int64)
    result = stratify.assign(groups.component, cls, fixed, ~nodes.excluded, np.array(current.ratios), current.seed)
    split_store.save(coll, _rows(nodes, groups, result.split, current.names, full), current.stored(), full)
    report(progress, 3, 3, "checking for leaks")
    new = (fixed == stratify.UNASSIGNED) & (result.split != stratify.UNASSIGNED)
    return SplitReport(current, full, int(new.sum()), int(((fixed != stratify.UNASSIGNED) & ~nodes.excluded).sum()),
                       int(nodes.excluded.sum()), summary(coll), groups.stats(~nodes.excluded),
                       _leaks(coll, nodes, groups, result.split), time.perf_counter() - started)


def _settings(coll: Collection, stored: Settings | None, ratios: str | Sequence[float] | None, seed: int | None,
              threshold: float | None, resplit: bool) -> Settings:
    """The settings of this run: the stored ones when keeping earlier splits (other ratios or threshold refused),
    else the ones asked for (defaults: 80/10/10, seed 0, the collection's near-duplicate threshold)."""
    shares = _shares(parse_ratios(ratios)) if ratios is not None else None
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise RevsearchError(f"the threshold is a cosine similarity between 0 and 1 (e.g. 0.9), not {threshold}")
    if stored is None or resplit:
        shares = shares or _shares(DEFAULT_RATIOS)
        return Settings(NAMES[len(shares)], shares, 0 if seed is None else int(seed),
                        near_duplicates.default_threshold(coll) if threshold is None else float(threshold), time.time())
    if shares is not None and (len(shares) != len(stored.ratios) or not np.allclose(shares, stored.ratios, atol=1e-6)):
        raise RevsearchError(f"the collection is already split {_ratio_text(stored)}; keeping earlier images' splits "
                             "needs the same ratios (re-split everything with --resplit)")
    if threshold is not None and abs(threshold - stored.threshold) > 1e-9:
        raise RevsearchError(f"the collection's split groups near-copies at {stored.threshold}; another threshold "
                             "needs --resplit")
    return Settings(stored.names, stored.ratios, stored.seed if seed is None else int(seed), stored.threshold,
                    stored.at)


def update(coll: Collection, progress: Progress | None = None) -> SplitReport | None:
    """Assign the images added (or taken back) since the collection was split; None when it has no split or every
    image has one. Exports call this first, so a split export never holds an image without a split."""
    if settings(coll) is None or not split_store.unassigned(coll):
        return None
    return make_split(coll, progress=progress)


def split_of(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, str]:
    return split_store.splits_of(coll, ids)


def summary(coll: Collection) -> Summary:
    """Images per split and class, over present images not excluded (one grouped read)."""
    current = settings(coll)
    names = current.names if current is not None else ()
    per_split = {name: 0 for name in names}
    per_class: dict[str, dict[str, int]] = {}
    unlabelled = {name: 0 for name in names}
    unassigned = 0
    for (split, label), n in sorted(split_store.counts(coll).items(), key=lambda kv: (str(kv[0][1]), str(kv[0][0]))):
        if split is None:
            unassigned += n
            continue
        per_split[split] = per_split.get(split, 0) + n
        into = unlabelled if label is None else per_class.setdefault(label, {name: 0 for name in names})
        into[split] = into.get(split, 0) + n
    return Summary(names, per_split, per_class, unlabelled, unassigned if names else 0)


def leak_check(coll: Collection) -> dict:
    """Leaks of the stored split, as cheaply as they can be known now: groups and content hashes across splits (one
    read), plus near-copy pairs across splits when the kept near-duplicate comparison still describes the collection
    (`near_copy_pairs` None otherwise). Excluded images are not exported and do not count."""
    current = settings(coll)
    if current is None:
        return {"split": False}
    out: dict = {"split": True, **split_store.crossings(coll), "near_copy_pairs": None}
    if near_duplicates.scanned(coll, current.threshold):
        where = split_store.splits_of(coll)
        excluded = exclusion_store.states(coll)
        out["near_copy_pairs"] = sum(1 for a, b, _ in near_duplicates.pairs(coll, current.threshold)
                                     if a in where and b in where and where[a] != where[b]
                                     and a not in excluded and b not in excluded)
    out["threshold"] = current.threshold
    return out


def remove(coll: Collection) -> int:
    return split_store.remove(coll)


def version(coll: Collection) -> str:
    return split_store.version(coll)


def _shares(ratios: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(ratios))
    return tuple(round(r / total, 6) for r in ratios)


def _ratio_text(s: Settings) -> str:
    return "/".join(f"{100 * r:g}" for r in s.ratios) + f" ({'/'.join(s.names)})"


def _rows(nodes: split_store.Nodes, groups: Groups, split: np.ndarray, names: tuple[str, ...],
          full: bool) -> list[tuple[int, str, int, str | None]]:
    """Rows to write: every assigned image on a re-split, else those whose split or group changed."""
    out = []
    for k in np.flatnonzero(split != stratify.UNASSIGNED).tolist():
        name, grp = names[split[k]], int(groups.grp[k])
        if full or nodes.split[k] != name or int(nodes.grp[k]) != grp or bool(nodes.stale[k]):
            out.append((int(nodes.ids[k]), name, grp, nodes.hashes[k]))
    return out


def _leaks(coll: Collection, nodes: split_store.Nodes, groups: Groups, split: np.ndarray) -> dict:
    """Pairs this run compared whose two exported images ended in different splits, and the stored crossings."""
    exported = (split != stratify.UNASSIGNED) & ~nodes.excluded
    a, b = groups.edges
    crossing = exported[a] & exported[b] & (split[a] != split[b])
    near, exact = crossing & (groups.kind == NEAR), crossing & (groups.kind == EXACT)
    crossing = near | exact
    shown = [(int(nodes.ids[i]), int(nodes.ids[j])) for i, j in zip(a[crossing][:EXAMPLES], b[crossing][:EXAMPLES])]
    paths = coll.paths([i for pair in shown for i in pair])
    examples = [{"a": paths.get(i), "b": paths.get(j)} for i, j in shown]
    out = {"near_copy_pairs": int(near.sum()), "exact_copy_pairs": int(exact.sum()), **split_store.crossings(coll)}
    return {"total": sum(out.values()), **out, "examples": examples}
