"""The audit of one collection: label issues, quality issues and a summary per label, from what the catalog holds.

Reads the vectors, labels (with their sources), cluster names, confirmations and pixel measures of a collection, takes
the measures it lacks (images indexed before indexing took them, measuring.py), and hands arrays to label_issues.py
and quality.py. Images excluded from exports (revsearch/exclusions.py) are dealt with: they are compared with, never
reported. Each audit leaves its counts in the collection (`card_section`), for the dataset card of the next export. At any size it stays within a fixed budget: past LABEL_LIMIT labelled images the labels are judged
on a stratified sample, past NEIGHBOUR_LIMIT images the neighbour checks (outliers, near-duplicates) run for a sample
of them (against every image, through the collection's index); pixel and size checks always cover every image.
"""

from __future__ import annotations

import json
import time

import numpy as np

from revsearch import clusters, exclusions, labels, near_duplicates, neighbours
from revsearch.audit import label_issues, quality
from revsearch.audit.measuring import Measured, measure_missing
from revsearch.audit.report import AuditReport, ClassSummary, LabelIssue, QualityIssue
from revsearch.collection import Collection, audit_store, duplicate_store, vector_index
from revsearch.indexing import pixel_measures
from revsearch.learning.head import stratified_sample
from revsearch.progress import Progress, report

LABEL_LIMIT = 20_000  # labelled images judged at most (a stratified sample past that)
NEIGHBOUR_LIMIT = 20_000  # images whose nearest neighbours are looked up at most (a sample past that)
NEIGHBOURS = 5  # nearest images whose mean similarity says how far an image is from everything
CHUNK = 4096
CONFIRMED_PRIOR = 0.01
META_SUMMARY, META_OVERLAP = "audit_summary", "audit_overlap"  # collection meta: the last audit's counts


def audit(coll: Collection, progress: Progress | None = None, measure: bool = True) -> AuditReport:
    """Check the collection's labels and images (taking missing pixel measures first unless `measure` is False)."""
    started = time.perf_counter()
    measured = measure_missing(coll, progress) if measure else Measured()
    notes: list[str] = []
    report(progress, 0, 3, "reading vectors")
    ids, widths, heights = audit_store.dimensions(coll)
    space = _Space.read(coll, ids)
    report(progress, 1, 3, "checking labels")
    labelled = audit_store.labels_with_sources(coll)
    label_found, typical, checked = _label_issues(coll, space, labelled, notes)
    report(progress, 2, 3, "checking image quality")
    rules = quality.Rules(notes=notes)
    quality_found = _quality_issues(coll, space, ids, widths, heights, rules, progress)
    report(progress, 3, 3, "done")
    if measured.changed or measured.unreadable:
        notes.append(f"no pixel measures for {measured.changed} images changed since indexing (index again) and "
                     f"{measured.unreadable} that cannot be read")
    excluded = exclusions.excluded_ids(coll)
    if excluded:
        label_found = [i for i in label_found if i.id not in excluded]
        quality_found = [q for q in quality_found if q.id not in excluded]
        notes.append(f"{len(excluded):,} images excluded from exports are not reported")
    found = AuditReport(len(ids), len(labelled), checked, label_found, quality_found,
                        _classes(labelled, label_found, quality_found, typical), rules, notes, measured.as_dict(),
                        seconds=time.perf_counter() - started)
    _keep(coll, META_SUMMARY, found.card())
    return found


def version(coll: Collection) -> str:
    """Moves whenever an audit could answer differently: vectors, labels, confirmations or exclusions changed."""
    return f"{coll.generation}:{labels.version(coll)}:{audit_store.version(coll)}:{exclusions.version(coll)}"


def keep_overlap(coll: Collection, target: str, found: int) -> None:
    """Remember the last overlap check (what with, how many copies) for the dataset card."""
    _keep(coll, META_OVERLAP, {"with": target, "images": found})


def card_section(coll: Collection) -> dict | None:
    """The last audit's counts for a dataset card (revsearch/card.py `audit`): label and quality issues, the last
    overlap check, when, and whether the collection changed since; None when it was never audited."""
    summary = _kept(coll, META_SUMMARY)
    if summary is None:
        return None
    overlap = _kept(coll, META_OVERLAP)
    out = {"checked_at": summary.pop("at"), "current": summary.pop("version") == version(coll), **summary}
    if overlap is not None:
        out["overlap"] = {"with": overlap["with"], "images": overlap["images"], "checked_at": overlap["at"]}
    return out


def _keep(coll: Collection, key: str, data: dict) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    coll.set_meta({key: json.dumps({**data, "at": stamp, "version": version(coll)})})


def _kept(coll: Collection, key: str) -> dict | None:
    try:
        data = json.loads(coll.meta(key) or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------------------- labels


def _label_issues(coll: Collection, space: "_Space", labelled: list[tuple[int, str, str]],
                  notes: list[str]) -> tuple[list[LabelIssue], dict[str, list[int]], int]:
    """(issues most likely first, typical image ids per label, how many labels were judged)."""
    classes = sorted({label for _, label, _ in labelled})
    if len(classes) < 2:
        if labelled:
            notes.append("labels are checked against each other: with one label there is nothing to compare")
        return [], {}, 0
    code_of = {c: n for n, c in enumerate(classes)}
    ids = np.array([i for i, _, _ in labelled], dtype=np.int64)
    codes = np.array([code_of[label] for _, label, _ in labelled], dtype=np.int64)
    if len(ids) > LABEL_LIMIT:
        keep = stratified_sample(codes, LABEL_LIMIT, 0)
        notes.append(f"labels checked on a sample of {len(keep):,} of {len(ids):,} labelled images")
    else:
        keep = np.arange(len(ids))
    found, vectors = space.reduced_of(coll, ids[keep])
    rows = keep[np.isin(ids[keep], found)]  # both in id order
    ids, codes = ids[rows], codes[rows]
    names = [labelled[r][1] for r in rows]
    sources = [labelled[r][2] for r in rows]
    confirmed_of = audit_store.confirmed(coll)
    confirmed = np.array([confirmed_of.get(int(i)) == lab for i, lab in zip(ids, names)], dtype=bool)
    prior = np.array([label_issues.PRIOR_ERROR.get(s, label_issues.DEFAULT_PRIOR) for s in sources])
    prior[confirmed] = CONFIRMED_PRIOR
    trusted = np.array([s != "suggestion" for s in sources], dtype=bool) | confirmed
    result = label_issues.check(vectors, codes, len(classes), prior, trusted, _groups(coll, ids, names, sources),
                                confirmed)
    paths = coll.paths(ids[result.flagged].tolist())
    issues = [LabelIssue(int(ids[r]), paths.get(int(ids[r]), ""), names[r], classes[int(result.suggested[r])],
                         float(result.scores[r]), sources[r]) for r in result.flagged]
    typical = {classes[c]: [int(ids[r]) for r in rs] for c, rs in result.typical.items()}
    return issues, typical, len(ids)


def _groups(coll: Collection, ids: np.ndarray, labels: list[str], sources: list[str]) -> np.ndarray:
    """Decision group of each label: the cluster whose name gave it (its members do not vote for each other), or -1
    for a label given on its own."""
    groups = np.full(len(ids), -1, dtype=np.int64)
    named = [n for n, s in enumerate(sources) if s == "cluster"]
    if not named:
        return groups
    names = clusters.names(coll)
    assigned = clusters.assignments(coll, ids[named].tolist())
    for n in named:
        cluster = assigned.get(int(ids[n]))
        if cluster is not None and names.get(cluster) == labels[n]:
            groups[n] = cluster
    return groups


# ---------------------------------------------------------------------------------------------------- quality


def _quality_issues(coll: Collection, space: "_Space", ids: np.ndarray, widths: np.ndarray, heights: np.ndarray,
                    rules: quality.Rules, progress: Progress | None) -> list[QualityIssue]:
    n = len(ids)
    flags = {name: np.zeros(n, dtype=bool) for name in quality.ISSUES}
    measured_ids, values = audit_store.measures(coll, pixel_measures.VERSION, len(pixel_measures.NAMES))
    at = np.minimum(np.searchsorted(ids, measured_ids), max(n - 1, 0))  # both sorted by id
    known = (ids[at] == measured_ids) if n else np.zeros(len(measured_ids), dtype=bool)  # indexed meanwhile: later
    measured_ids, values, at = measured_ids[known], values[known], at[known]
    for name, flag in quality.pixel_flags(values, rules).items():
        flags[name][at] = flag
    flags.update(quality.size_flags(widths, heights, rules))
    match = np.full(n, -1, dtype=np.int64)
    similarity = np.full(n, np.nan, dtype=np.float32)
    if n > 1:
        rows, mean_sims, best_sims, best_ids = space.neighbours(coll, ids, progress)
        flags["outlier"][rows] = quality.outliers(mean_sims, rules)
        similarity[rows] = best_sims
        close = best_sims >= near_duplicates.default_threshold(coll)
        later = best_ids < ids[rows]  # of a pair, the later image is reported, with the earlier as its match
        dismissed = duplicate_store.marked(coll)
        pair = [(min(int(a), int(b)), max(int(a), int(b))) not in dismissed for a, b in zip(ids[rows], best_ids)]
        near = close & later & np.array(pair, dtype=bool)
        flags["near_duplicate"][rows[near]] = True
        match[rows[near]] = best_ids[near]
    measures = dict(zip(measured_ids.tolist(), values))
    hit = np.zeros(n, dtype=bool)
    for flag in flags.values():
        hit |= flag
    rows_hit = np.flatnonzero(hit)
    paths = coll.paths([*ids[rows_hit].tolist(), *match[rows_hit][match[rows_hit] >= 0].tolist()])
    out = []
    for r in rows_hit:
        image_id = int(ids[r])
        facts = {"width": int(widths[r]), "height": int(heights[r])}
        if image_id in measures:
            facts.update(pixel_measures.as_dict(measures[image_id]))
        if not np.isnan(similarity[r]):
            facts["nearest_similarity"] = round(float(similarity[r]), 4)
        other = int(match[r]) if match[r] >= 0 else None
        out.append(QualityIssue(image_id, paths.get(image_id, ""), tuple(k for k in quality.ISSUES if flags[k][r]),
                                facts, paths.get(other) if other is not None else None, other))
    out += _exact_copies(coll)
    out.sort(key=lambda q: (quality.ISSUES.index(q.issues[0]), q.id))
    return out


class _Space:
    """The vectors an audit compares. Up to NEIGHBOUR_LIMIT images all of them are read once: raw, and reduced to
    label_issues.DIMS principal components, where nearest neighbours are found (five times cheaper) and then scored
    exactly on the raw vectors. Past it nothing is held: labels read the sample they judge, neighbours go through the
    collection's index for a sample of images."""

    def __init__(self, ids: np.ndarray | None, raw: np.ndarray | None, reduced: np.ndarray | None) -> None:
        self.ids, self.raw, self.reduced = ids, raw, reduced

    @classmethod
    def read(cls, coll: Collection, ids: np.ndarray) -> "_Space":
        if len(ids) > NEIGHBOUR_LIMIT:
            return cls(None, None, None)
        found, raw = coll.vectors()
        return cls(found, raw, label_issues.reduce(raw))

    def reduced_of(self, coll: Collection, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, reduced vectors) of `wanted` (sorted ids)."""
        if self.ids is None:
            found, raw = coll.vectors(wanted.tolist())
            return found, label_issues.reduce(raw)
        rows = np.searchsorted(self.ids, wanted)
        rows = rows[(rows < len(self.ids)) & (self.ids[np.minimum(rows, len(self.ids) - 1)] == wanted)]
        return self.ids[rows], self.reduced[rows]

    def neighbours(self, coll: Collection, ids: np.ndarray,
                   progress: Progress | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows of `ids` looked up, their mean raw similarity to the NEIGHBOURS nearest other images, the best
        one's similarity and id)."""
        if self.ids is None:
            return _neighbours_by_index(coll, ids, progress)
        fetch = min(len(self.ids), NEIGHBOURS + 3)
        _, found = neighbours.knn(self.reduced, self.reduced, fetch)
        found = np.maximum(found, 0)
        sims = np.empty(found.shape, dtype=np.float32)
        for start in range(0, len(found), CHUNK):  # exact, on the raw vectors, a chunk at a time
            part = slice(start, start + CHUNK)
            sims[part] = np.einsum("nd,nkd->nk", self.raw[part], self.raw[found[part]])
        sims[found == np.arange(len(found))[:, None]] = -np.inf  # not itself
        order = np.argsort(-sims, axis=1, kind="stable")[:, :NEIGHBOURS]
        top = np.take_along_axis(sims, order, axis=1)
        usable = np.isfinite(top)
        mean = np.where(usable, top, 0).sum(axis=1) / np.maximum(usable.sum(axis=1), 1)
        best = self.ids[found[np.arange(len(found)), order[:, 0]]]
        rows = np.minimum(np.searchsorted(ids, self.ids), len(ids) - 1)
        same = (ids[rows] == self.ids) & usable[:, 0]  # an image indexed meanwhile is left for the next audit
        return rows[same], mean[same].astype(np.float32), top[same, 0].astype(np.float32), best[same]


def _neighbours_by_index(coll: Collection, ids: np.ndarray,
                         progress: Progress | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As `_Space.neighbours`, through the collection's index, for a seeded sample of NEIGHBOUR_LIMIT images."""
    rows = np.sort(np.random.default_rng(0).choice(len(ids), min(NEIGHBOUR_LIMIT, len(ids)), replace=False))
    index = coll.index()
    k = min(NEIGHBOURS + 1, index.ntotal)
    mean_sims = np.zeros(len(rows), dtype=np.float32)
    best_sims = np.full(len(rows), -1.0, dtype=np.float32)
    best_ids = np.full(len(rows), -1, dtype=np.int64)
    kept = np.zeros(len(rows), dtype=bool)
    for start in range(0, len(rows), CHUNK):
        report(progress, 2, 3, f"nearest images {start:,} of {len(rows):,}")
        part = rows[start : start + CHUNK]
        found_ids, vectors = coll.vectors(ids[part].tolist())
        at = start + np.searchsorted(ids[part], found_ids)
        sims, nbrs = vector_index.search(index, vectors, k)
        other = (nbrs != found_ids[:, None]) & (nbrs >= 0)
        other &= np.cumsum(other, axis=1) <= NEIGHBOURS
        counts = other.sum(axis=1)
        ok = counts > 0
        mean_sims[at[ok]] = (np.where(other, sims, 0).sum(axis=1)[ok] / counts[ok])
        first = other.argmax(axis=1)
        best_sims[at[ok]] = sims[np.arange(len(sims)), first][ok]
        best_ids[at[ok]] = nbrs[np.arange(len(nbrs)), first][ok]
        kept[at[ok]] = True
    return rows[kept], mean_sims[kept], best_sims[kept], best_ids[kept]


def _exact_copies(coll: Collection) -> list[QualityIssue]:
    """Files with the same content as an indexed image (recorded at indexing), each with its original."""
    copies = [r for r in coll.rows("duplicate") if r.duplicate_of is not None]
    originals = coll.paths([r.duplicate_of for r in copies])
    return [QualityIssue(r.id, r.path, ("exact_copy",), {"width": r.width or 0, "height": r.height or 0},
                         originals.get(r.duplicate_of), r.duplicate_of) for r in copies]


# ---------------------------------------------------------------------------------------------------- summary


def _classes(labelled: list[tuple[int, str, str]], label_found: list[LabelIssue], quality_found: list[QualityIssue],
             typical: dict[str, list[int]]) -> list[ClassSummary]:
    """One summary per label: images, sources, issues."""
    label_of = {i: label for i, label, _ in labelled}
    out: dict[str, ClassSummary] = {}
    for _, label, source in labelled:
        summary = out.setdefault(label, ClassSummary(label, 0, {}, 0, 0, 0, typical.get(label, [])))
        summary.images += 1
        summary.sources[source] = summary.sources.get(source, 0) + 1
    for issue in label_found:
        out[issue.label].label_issues += 1
    for q in quality_found:
        if q.id in label_of:
            out[label_of[q.id]].quality_issues += 1
    for image_id in {i.id for i in label_found} | {q.id for q in quality_found if q.id in label_of}:
        out[label_of[image_id]].flagged += 1
    return sorted(out.values(), key=lambda c: (-c.images, c.label))
