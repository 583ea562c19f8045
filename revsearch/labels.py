"""Labels: name clusters, label and unlabel images, rename labels, suggest labels from labelled neighbours, import.

Labels belong to images (one label per image, `labels` table) and record their source: 'manual', 'cluster' (the
image got it by its cluster being named), 'suggestion' (accepted k-NN suggestion, with its confidence) or 'import'.
Labelling an indexed image also labels its exact copies (rows with status 'duplicate' of it), which are the same
picture. Every change is written to `label_history` — when, what, old → new, from which source; no user names.

A person's work is never lost (issue 9): hand labels ('manual', 'import') are never overwritten by a cluster name;
naming a cluster labels only its members without one, and may cover an accepted suggestion, which comes back (with
its confidence) when the name is removed; removing or renaming a name changes only what the cluster gave. Every
call below that writes labels is one action that `undo` reverses, several levels deep (label_store, label_actions).

Suggestions: for every unlabelled indexed image, its `k` nearest labelled images vote for their labels with weight
exp((similarity - 1) / temperature), so closer neighbours count much more. `k` background votes at similarity
`background` (0.5) take part too: the confidence is the winning label's share of all votes, so it is high only when
the neighbours agree *and* are close. Without the background, a collection with one named cluster would get
"100 %" suggestions of that label for every image. Measured on clothing-small (efficientnet_lite0), half of each
class labelled: confidence ≥ 0.9 → 80 suggestions, all correct; ≥ 0.7 → 178, 93 % correct; only the shoes
labelled: no suggestion reaches 0.9, one reaches 0.7. The constants suit the default model's similarity scale;
pass `background` for a model whose unrelated images score differently. Accepting above a threshold labels them
in one transaction.

Public API (take an open `Collection`; `refs` are image ids or paths):
    resolve(coll, refs) -> list[int]                           ids of the referenced images (error names unknown ones)
    label_images(coll, refs, label, source="manual", confidence=None) -> int       rows changed
    label_each(coll, {ref: label}, source="manual") -> int      several labels in one action (one undo)
    unlabel_images(coll, refs) -> int
    name_cluster(coll, cluster_id, name) -> int                 names the cluster, labels members without a hand label
    merge_clusters(coll, ids, into=None, name=None) -> Cluster  merge (history recorded); a name labels the members
    rename_label(coll, old, new) -> int                         every image and cluster called `old` → `new`
    labels(coll) -> dict[int, str]                              image id -> label
    label_rows(coll) -> list[LabelRow]                          with path, source and confidence
    label_counts(coll) -> dict[str, int]                        label -> images, most common first
    history(coll, limit=200) -> list[HistoryEntry]              newest first
    version(coll) -> str                                        changes on every label change
    suggest(coll, k=10, min_confidence=0.0) -> list[Suggestion] unlabelled indexed images, most confident first
    accept_suggestions(coll, threshold, k=10, suggestions=None) -> int   label those with confidence >= threshold
    import_csv(coll, csv_path) -> ImportReport                  `path,label` rows; relative paths from the CSV's folder
    undo(coll, action_id=None) -> UndoReport                    reverse the newest labelling action not undone yet
    last_action(coll) -> Action | None                          what `undo` would reverse (its .description)
    clean_label(name) -> str                                    validated label text (error if unusable)
"""

from __future__ import annotations

import csv
import os
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import faiss
import numpy as np

from revsearch import clusters as clusters_mod
from revsearch.collection import Collection, cluster_store, label_store
from revsearch.collection.label_store import Action, HistoryEntry, LabelRow, UndoReport
from revsearch.errors import RevsearchError

SOURCES = ("manual", "cluster", "suggestion", "import")
MAX_LABEL_CHARS = 120
DEFAULT_K = 10
TEMPERATURE = 0.05
BACKGROUND = 0.5
META_VERSION = label_store.META_VERSION

ImageRef = int | str | os.PathLike


@dataclass(frozen=True)
class Suggestion:
    id: int
    path: str
    label: str
    confidence: float  # share of the similarity-weighted vote, 0 … 1
    similarity: float  # cosine similarity to the nearest neighbour carrying `label`
    votes: dict[str, float]  # label -> vote share, best first (top 3)

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "label": self.label, "confidence": round(self.confidence, 4),
                "similarity": round(self.similarity, 4), "votes": {k: round(v, 4) for k, v in self.votes.items()}}


@dataclass
class ImportReport:
    rows: int = 0
    labelled: int = 0  # images whose label changed
    unchanged: int = 0  # already had that label
    empty: int = 0  # rows without a label (ignored)
    unknown: list[str] = field(default_factory=list)  # paths not in the collection
    not_indexed: list[str] = field(default_factory=list)  # in the collection but skipped (undecodable)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "labelled": self.labelled, "unchanged": self.unchanged, "empty": self.empty,
                "unknown": self.unknown, "not_indexed": self.not_indexed}


# ---------------------------------------------------------------------------------------------------- helpers


def clean_label(name: str) -> str:
    """Trimmed, NFC-normalised label text; refuses empty, over-long or control-character labels."""
    if not isinstance(name, str):
        raise RevsearchError("a label must be text")
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise RevsearchError("a label cannot be empty")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise RevsearchError(f"a label cannot contain control characters: {text!r}")
    if len(text) > MAX_LABEL_CHARS:
        raise RevsearchError(f"a label can have at most {MAX_LABEL_CHARS} characters")
    return text


def resolve(coll: Collection, refs: Iterable[ImageRef]) -> list[int]:
    """Image ids for ids or paths (absolute, or relative to the working directory); unknown refs are an error."""
    ids: list[int] = []
    unknown: list[str] = []
    for ref in refs:
        row = None
        if isinstance(ref, (int, np.integer)):
            row = coll.get(int(ref))
        else:
            row = _row_for_path(coll, Path(ref))
        if row is None:
            unknown.append(str(ref))
        else:
            ids.append(row.id)
    if unknown:
        more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
        raise RevsearchError(f"not in this collection: {', '.join(unknown[:3])}{more}")
    return list(dict.fromkeys(ids))


def _row_for_path(coll: Collection, path: Path):
    path = path.expanduser()
    candidates = [path if path.is_absolute() else Path.cwd() / path]
    candidates.append(candidates[0].resolve())
    candidates.append(Path(os.path.normpath(candidates[0])))
    for p in candidates:
        row = coll.by_path(str(p))
        if row is not None:
            return row
    return None


# ---------------------------------------------------------------------------------------------------- editing


def label_images(coll: Collection, refs: Iterable[ImageRef], label: str, source: str = "manual",
                 confidence: float | None = None) -> int:
    """Give images (and their exact copies) a label; returns how many images' labels changed."""
    label = clean_label(label)
    if source not in SOURCES:
        raise RevsearchError(f"unknown label source {source!r}")
    ids = resolve(coll, refs)
    return label_store.set_labels(coll, {i: (label, confidence) for i in ids}, source)


def label_each(coll: Collection, assignments: Mapping[ImageRef, str], source: str = "manual") -> int:
    """Give each image its own label as ONE undoable action (a page of answers in the app's Label next view)."""
    if source not in SOURCES:
        raise RevsearchError(f"unknown label source {source!r}")
    todo = {resolve(coll, [ref])[0]: (clean_label(label), None) for ref, label in assignments.items()}
    return label_store.set_labels(coll, todo, source) if todo else 0


def unlabel_images(coll: Collection, refs: Iterable[ImageRef]) -> int:
    """Remove the labels of images (and their exact copies); returns how many had one."""
    ids = resolve(coll, refs)
    return label_store.set_labels(coll, {i: (None, None) for i in ids}, "manual")


def name_cluster(coll: Collection, cluster_id: int, name: str | None) -> int:
    """Name a cluster and give its current members without a hand label that label (None clears the name and only
    the labels it gave, restoring any suggestion they covered).

    Returns how many images' labels changed. Images that join the cluster later are not labelled automatically —
    they show up in `suggest` instead, where their labelled neighbours vote.
    """
    label = clean_label(name) if name is not None else None
    member_ids = [m.id for m in clusters_mod.members(coll, cluster_id)]  # an unknown cluster is an error here
    return label_store.label_cluster(coll, cluster_id, label, member_ids)


def merge_clusters(coll: Collection, ids: Sequence[int], into: int | None = None,
                   name: str | None = None) -> clusters_mod.Cluster:
    """Merge clusters into one (`into`, default the smallest id; see clusters.merge_members) and record it in the
    label history; with `name`, the merged cluster is named and all its members labelled."""
    label = clean_label(name) if name else None
    names_before = cluster_store.names(coll)
    merged = clusters_mod.merge_members(coll, ids, into=into, name=label)
    label_store.record_merge(coll, merged.id, ids, names_before.get(merged.id), merged.name, label,
                             merged.member_ids if label else ())
    return clusters_mod.cluster(coll, merged.id) if label else merged


def rename_label(coll: Collection, old: str, new: str) -> int:
    """Rename a label everywhere (images and cluster names); merging into an existing label is allowed."""
    renamed = label_store.rename(coll, old, clean_label(new))
    if renamed is None:
        raise RevsearchError(f"no image or cluster is labelled {old!r}")
    return renamed


def undo(coll: Collection, action_id: int | None = None) -> UndoReport:
    """Reverse the newest labelling action not undone yet (or the one `action_id` names, e.g. the one an Undo
    button showed); images relabelled since are left alone and named in the report."""
    report = label_store.undo(coll, action_id)
    if report is None:
        raise RevsearchError("nothing to undo: no labelling action left" if action_id is None
                             else f"labelling action {action_id} was undone already (or never existed)")
    return report


def last_action(coll: Collection) -> Action | None:
    """What `undo` would reverse now."""
    return label_store.last_action(coll)


# ---------------------------------------------------------------------------------------------------- reading


def labels(coll: Collection) -> dict[int, str]:
    """image id -> label."""
    return label_store.labels(coll)


def label_rows(coll: Collection) -> list[LabelRow]:
    return label_store.label_rows(coll)


def label_counts(coll: Collection) -> dict[str, int]:
    return label_store.counts(coll)


def history(coll: Collection, limit: int = 200) -> list[HistoryEntry]:
    return label_store.history(coll, limit)


def version(coll: Collection) -> str:
    """Changes on every label change (for caches of views that show labels)."""
    return label_store.version(coll)


# ---------------------------------------------------------------------------------------------------- suggestions

_SUGGEST_CACHE: dict[tuple, list[Suggestion]] = {}


def suggest(coll: Collection, k: int = DEFAULT_K, min_confidence: float = 0.0,
            temperature: float = TEMPERATURE, background: float = BACKGROUND) -> list[Suggestion]:
    """A label for every unlabelled indexed image from its k nearest labelled images, most confident first.

    Cached per (collection, generation, label version, parameters), so the app can call it on every rerun.
    """
    if k < 1:
        raise RevsearchError("k must be at least 1")
    with coll.lock:
        key = (str(coll.directory), coll.generation, label_store.version(coll), k, temperature, background)
        cached = _SUGGEST_CACHE.get(key)
        if cached is None:
            cached = _suggest(coll, k, temperature, background)
            if len(_SUGGEST_CACHE) > 16:
                _SUGGEST_CACHE.clear()
            _SUGGEST_CACHE[key] = cached
    return [s for s in cached if s.confidence >= min_confidence]


def _suggest(coll: Collection, k: int, temperature: float, background: float) -> list[Suggestion]:
    ids, vectors = coll.vectors()
    known = labels(coll)
    is_labelled = np.array([int(i) in known for i in ids], dtype=bool)
    if not is_labelled.any() or is_labelled.all():
        return []
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors[is_labelled]))
    lab_ids = ids[is_labelled]
    lab_names = [known[int(i)] for i in lab_ids]
    queries = np.ascontiguousarray(vectors[~is_labelled])
    query_ids = ids[~is_labelled]
    kk = min(k, int(is_labelled.sum()))
    sims, nbrs = index.search(queries, kk)
    paths = coll.paths(query_ids.tolist())
    prior = kk * float(np.exp((background - 1.0) / temperature))
    out: list[Suggestion] = []
    for image_id, row_sims, row_nbrs in zip(query_ids, sims, nbrs):
        votes: dict[str, float] = defaultdict(float)
        best_sim: dict[str, float] = {}
        for s, n in zip(row_sims, row_nbrs):
            if n < 0:
                continue
            name = lab_names[n]
            votes[name] += float(np.exp((float(s) - 1.0) / temperature))
            best_sim[name] = max(best_sim.get(name, -1.0), float(s))
        total = sum(votes.values()) + prior
        if total <= 0 or not votes:
            continue
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        label, weight = ranked[0]
        out.append(Suggestion(int(image_id), paths.get(int(image_id), ""), label, weight / total, best_sim[label],
                              {name: w / total for name, w in ranked[:3]}))
    out.sort(key=lambda s: (-s.confidence, -s.similarity, s.id))
    return out


def accept_suggestions(coll: Collection, threshold: float, k: int = DEFAULT_K,
                       suggestions: Sequence[Suggestion] | None = None) -> int:
    """Label every suggested image whose confidence is ≥ threshold (source 'suggestion'); returns how many."""
    if not 0.0 <= threshold <= 1.0:
        raise RevsearchError("the acceptance threshold is a confidence between 0 and 1")
    chosen = [s for s in (suggestions if suggestions is not None else suggest(coll, k)) if s.confidence >= threshold]
    if not chosen:
        return 0
    # never overwrite a label set since the suggestion was made
    return label_store.set_labels(coll, {s.id: (s.label, s.confidence) for s in chosen}, "suggestion",
                                  only_unlabelled=True)


# ---------------------------------------------------------------------------------------------------- import


def import_csv(coll: Collection, csv_path: Path | str, source: str = "import") -> ImportReport:
    """Label images from a CSV with `path,label` columns (a header naming them, or the first two columns).

    Relative paths are resolved against the CSV's own folder; rows without a label are ignored; paths the
    collection does not know are reported, not fatal. All labels are written in one transaction.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise RevsearchError(f"label file not found: {csv_path}")
    base = csv_path.resolve().parent
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return ImportReport()
    header = [h.strip().lower() for h in rows[0]]
    if "path" in header and "label" in header:
        p_col, l_col, body = header.index("path"), header.index("label"), rows[1:]
    else:
        if len(rows[0]) < 2:
            raise RevsearchError(f"{csv_path}: expected `path,label` columns")
        p_col, l_col, body = 0, 1, rows
    result = ImportReport()
    wanted: dict[int, str] = {}
    for row in body:
        if not row or all(not c.strip() for c in row):
            continue
        result.rows += 1
        raw_path = row[p_col].strip() if p_col < len(row) else ""
        raw_label = row[l_col].strip() if l_col < len(row) else ""
        if not raw_label:
            result.empty += 1
            continue
        label = clean_label(raw_label)
        p = Path(raw_path).expanduser()
        if not p.is_absolute():
            p = base / p
        image = None
        for candidate in (p.resolve(), Path(os.path.normpath(p))):
            image = coll.by_path(str(candidate))
            if image is not None:
                break
        if image is None:
            result.unknown.append(raw_path)
        elif image.status == "skipped":
            result.not_indexed.append(raw_path)
        else:
            wanted[image.id] = label
    current = labels(coll)
    result.unchanged = sum(1 for i, lab in wanted.items() if current.get(i) == lab)
    result.labelled = label_store.set_labels(coll, {i: (lab, None) for i, lab in wanted.items()
                                                    if current.get(i) != lab}, source, copies=False)
    return result


# ------------------------------------------------------------------ TEMPORARY STAND-IN (branch wt-learnapp): the
# backend helper's folder_classes / import_folders replace these two functions (API in /work/notes/learn_api.md).


def _folder_of(coll: Collection) -> dict[int, str]:
    rows = [r for r in coll.rows("indexed")]
    if len(rows) < 2:
        return {}
    root = os.path.commonpath([os.path.dirname(r.path) for r in rows])
    out = {r.id: Path(r.path).relative_to(root).parts[0] for r in rows if len(Path(r.path).relative_to(root).parts) > 1}
    return out if len(out) == len(rows) and len(set(out.values())) >= 2 else {}


def folder_classes(coll: Collection) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for name in _folder_of(coll).values():
        found[name] += 1
    return dict(sorted(found.items()))


def import_folders(coll: Collection, folder: Path | str | None = None) -> ImportReport:
    wanted = _folder_of(coll)
    report = ImportReport(rows=len(wanted))
    report.labelled = label_store.set_labels(coll, {i: (clean_label(n), None) for i, n in wanted.items()}, "import",
                                             copies=False)
    return report
