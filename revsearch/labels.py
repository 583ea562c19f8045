"""Labels: name clusters, label and unlabel images, rename labels, suggest labels, import.

Labels belong to images (one per image) and record their source: 'manual', 'cluster' (its cluster was named),
'suggestion' (accepted, with its confidence) or 'import'. Labelling an image also labels its exact copies. Every
change is written to `label_history` (when, what, old → new, source, and the `user` each writer takes: the app's
signed-in user, the CLI's `--as`, default the OS user; see revsearch/attribution.py).

A person's work is never lost (issue 9): hand labels ('manual', 'import') are never overwritten by a cluster name;
naming a cluster labels only its members without one, and may cover an accepted suggestion, which comes back (with
its confidence) when the name is removed; removing or renaming a name changes only what the cluster gave. Every
call below that writes labels is one action that `undo` reverses, several levels deep (label_store, label_actions).

Suggestions come from the learned model (learned.suggester): a probability calibrated on held-out labels, with room
for "none of the known labels" (then no suggestion). Accepted ones get source 'suggestion' (not trained on).

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
    ready_suggestions(coll) -> (list[Suggestion], current) | None   what `suggest` has computed, without computing
    accept_suggestions(coll, threshold, k=10, suggestions=None) -> int   label those with confidence >= threshold
    import_csv(coll, csv_path) -> ImportReport                  `path,label` rows; relative paths from the CSV's folder
    folder_classes(coll, folder=None) -> dict[str, int]         class subfolders (ImageFolder layout) -> images
    import_folders(coll, folder=None) -> ImportReport           label images by their class subfolder
    undo(coll, action_id=None, user=None, others=False)         reverse the user's newest action not undone yet
    last_action(coll, user=None) -> Action | None               what `undo` would reverse (its .description)
    clean_label(name) -> str                                    validated label text (error if unusable)
"""

from __future__ import annotations

import csv
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from revsearch import clusters as clusters_mod, learned
from revsearch.auth.users import os_user
from revsearch.collection import Collection, cluster_store, label_store, sampling
from revsearch.collection.label_store import Action, HistoryEntry, LabelRow, UndoReport
from revsearch.errors import RevsearchError
from revsearch.neighbours import knn

SOURCES = ("manual", "cluster", "suggestion", "import")
MAX_LABEL_CHARS = 120
DEFAULT_K = 10
META_VERSION = label_store.META_VERSION

ImageRef = int | str | os.PathLike


@dataclass(frozen=True)
class Suggestion:
    id: int
    path: str
    label: str
    confidence: float  # calibrated probability that `label` is right
    similarity: float  # cosine similarity to the nearest of its k nearest labelled images carrying `label`
    votes: dict[str, float]  # label -> probability, best first (top 3)
    none: float = 0.0  # probability that the image is of none of the known labels

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "label": self.label, "confidence": round(self.confidence, 4),
                "similarity": round(self.similarity, 4), "votes": {k: round(v, 4) for k, v in self.votes.items()},
                "none": round(self.none, 4)}


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
    return clean_text(name, "a label", MAX_LABEL_CHARS)


def clean_text(value: str, what: str, limit: int) -> str:
    """Trimmed, NFC-normalised text a person typed (`what`: "a label", "a reason"…, for the messages); refuses empty,
    over-long or control-character text."""
    if not isinstance(value, str):
        raise RevsearchError(f"{what} must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise RevsearchError(f"{what} cannot be empty")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise RevsearchError(f"{what} cannot contain control characters: {text!r}")
    if len(text) > limit:
        raise RevsearchError(f"{what} can have at most {limit} characters")
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


def _who(user: str | None) -> str:
    return user or os_user()


def label_images(coll: Collection, refs: Iterable[ImageRef], label: str, source: str = "manual",
                 confidence: float | None = None, user: str | None = None) -> int:
    """Give images (and their exact copies) a label; returns how many images' labels changed."""
    label = clean_label(label)
    if source not in SOURCES:
        raise RevsearchError(f"unknown label source {source!r}")
    ids = resolve(coll, refs)
    return label_store.set_labels(coll, {i: (label, confidence) for i in ids}, source, user=_who(user))


def label_each(coll: Collection, assignments: Mapping[ImageRef, str], source: str = "manual",
               user: str | None = None) -> int:
    """Give each image its own label as ONE undoable action (a page of answers in the app's Label next view)."""
    if source not in SOURCES:
        raise RevsearchError(f"unknown label source {source!r}")
    todo = {resolve(coll, [ref])[0]: (clean_label(label), None) for ref, label in assignments.items()}
    return label_store.set_labels(coll, todo, source, user=_who(user)) if todo else 0


def unlabel_images(coll: Collection, refs: Iterable[ImageRef], user: str | None = None) -> int:
    """Remove the labels of images (and their exact copies); returns how many had one."""
    ids = resolve(coll, refs)
    return label_store.set_labels(coll, {i: (None, None) for i in ids}, "manual", user=_who(user))


def name_cluster(coll: Collection, cluster_id: int, name: str | None, user: str | None = None) -> int:
    """Name a cluster and give its current members without a hand label that label (None clears the name and only
    the labels it gave, restoring any suggestion they covered).

    Returns how many images' labels changed. Images that join the cluster later are not labelled automatically —
    they show up in `suggest` instead, where their labelled neighbours vote.
    """
    label = clean_label(name) if name is not None else None
    member_ids = [m.id for m in clusters_mod.members(coll, cluster_id)]  # an unknown cluster is an error here
    return label_store.label_cluster(coll, cluster_id, label, member_ids, user=_who(user))


def merge_clusters(coll: Collection, ids: Sequence[int], into: int | None = None,
                   name: str | None = None, user: str | None = None) -> clusters_mod.Cluster:
    """Merge clusters into one (`into`, default the smallest id; see clusters.merge_members) and record it in the
    label history; with `name`, the merged cluster is named and all its members labelled."""
    label = clean_label(name) if name else None
    names_before = cluster_store.names(coll)
    merged = clusters_mod.merge_members(coll, ids, into=into, name=label)
    label_store.record_merge(coll, merged.id, ids, names_before.get(merged.id), merged.name, label,
                             merged.member_ids if label else (), user=_who(user))
    return clusters_mod.cluster(coll, merged.id) if label else merged


def rename_label(coll: Collection, old: str, new: str, user: str | None = None) -> int:
    """Rename a label everywhere (images and cluster names); merging into an existing label is allowed."""
    renamed = label_store.rename(coll, old, clean_label(new), user=_who(user))
    if renamed is None:
        raise RevsearchError(f"no image or cluster is labelled {old!r}")
    return renamed


def undo(coll: Collection, action_id: int | None = None, user: str | None = None, others: bool = False) -> UndoReport:
    """Reverse `user`'s newest labelling action not undone yet (or the one `action_id` names, e.g. the one an Undo
    button showed; another person's only with `others`); images relabelled since are left alone and named."""
    report = label_store.undo(coll, _who(user), action_id, others)
    if report is None:
        raise RevsearchError("nothing to undo: no labelling action left" if action_id is None
                             else f"labelling action {action_id} was undone already (or never existed)")
    return report


def last_action(coll: Collection, user: str | None = None) -> Action | None:
    """What `undo` would reverse now for `user` (the OS user by default)."""
    return label_store.last_action(coll, _who(user))


# ---------------------------------------------------------------------------------------------------- reading


def labels(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, str]:
    """image id -> label (of every labelled image, or of those among `ids`)."""
    return label_store.labels(coll, ids)


def unlabelled_count(coll: Collection) -> int:
    return label_store.unlabelled_count(coll)


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

def suggest(coll: Collection, k: int = DEFAULT_K, min_confidence: float = 0.0) -> list[Suggestion]:
    """Calibrated suggestions for unlabelled images, most confident first (none where "none of the known labels" is
    likeliest); kept with the collection per generation, labels, head and k."""
    return [s for s in _guesses(coll, k) if s.confidence >= s.none and s.confidence >= min_confidence]


def _guesses(coll: Collection, k: int) -> list[Suggestion]:
    """The best known label (with its probability and that of "none") of every unlabelled image, or of a fixed
    sample past learned.LABEL_SET_LIMIT of them."""
    if k < 1:
        raise RevsearchError("k must be at least 1")
    return coll.derived("suggestions", _suggestions_key(coll, k), lambda: _suggest(coll, k))


def ready_suggestions(coll: Collection, k: int = DEFAULT_K) -> tuple[list[Suggestion], bool] | None:
    """`suggest` without computing (for a page, while a job computes): (them, True) when current; else (the ones held,
    minus images labelled since, False); else None."""
    held = coll.peek_derived("suggestions", _suggestions_key(coll, k))
    if held is None:
        return None
    found, current = held
    labelled = {} if current else labels(coll, [s.id for s in found])
    return [s for s in found if s.confidence >= s.none and s.id not in labelled], current


def _suggestions_key(coll: Collection, k: int) -> tuple:
    return label_store.version(coll), coll.meta(learned.META_HEAD), k


def _suggest(coll: Collection, k: int) -> list[Suggestion]:
    if not label_counts(coll):  # nothing to learn from: not worth loading every vector to find that out
        return []
    labelset, suggester = learned.suggester(coll)
    if suggester is None:
        return []
    known = labels(coll)  # any source: an accepted suggestion is not suggested again
    rows = np.array([n for n, i in enumerate(labelset.ids) if int(i) not in known], dtype=np.int64)
    if len(rows) == 0:
        return []
    queries = labelset.vectors[rows]
    probs = suggester.probabilities(queries)
    kinds, none = probs[:, :-1], probs[:, -1]
    lab = np.flatnonzero(labelset.labelled)
    sims, nbrs = knn(labelset.vectors[lab], queries, k)
    nbr_codes = labelset.codes[lab][nbrs]
    names = suggester.classes
    query_ids = labelset.ids[rows]
    paths = coll.paths(query_ids.tolist())
    out: list[Suggestion] = []
    for n, image_id in enumerate(query_ids):
        order = np.argsort(-kinds[n], kind="stable")
        best = int(order[0])
        same = sims[n][nbr_codes[n] == best]
        out.append(Suggestion(int(image_id), paths.get(int(image_id), ""), names[best], float(kinds[n, best]),
                              float(same.max() if len(same) else sims[n, 0]),
                              {names[c]: float(kinds[n, c]) for c in order[:3]}, float(none[n])))
    out.sort(key=lambda s: (-s.confidence, -s.similarity, s.id))
    return out


def accept_suggestions(coll: Collection, threshold: float, k: int = DEFAULT_K,
                       suggestions: Sequence[Suggestion] | None = None, user: str | None = None) -> int:
    """Label every suggested image whose confidence is ≥ threshold (source 'suggestion'); returns how many.
    Threshold 0 labels everything `_guesses` covers with its best known label, also where "none" was likelier."""
    if not 0.0 <= threshold <= 1.0:
        raise RevsearchError("the acceptance threshold is a confidence between 0 and 1")
    if threshold == 0.0:
        suggestions = _guesses(coll, k)
    chosen = [s for s in (suggestions if suggestions is not None else suggest(coll, k)) if s.confidence >= threshold]
    if not chosen:
        return 0
    # never overwrite a label set since the suggestion was made
    return label_store.set_labels(coll, {s.id: (s.label, s.confidence) for s in chosen}, "suggestion",
                                  only_unlabelled=True, user=_who(user))


# ---------------------------------------------------------------------------------------------------- import


def import_csv(coll: Collection, csv_path: Path | str, source: str = "import", user: str | None = None) -> ImportReport:
    """Label images from a CSV with `path,label` columns (a header naming them, or the first two columns), in one
    transaction. Relative paths are resolved against the CSV's folder; rows without a label are ignored; paths the
    collection does not know are reported, not fatal."""
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
                                                    if current.get(i) != lab}, source, copies=False, user=_who(user))
    return result


def folder_classes(coll: Collection, folder: Path | str | None = None) -> dict[str, int]:
    """class subfolder name -> indexed images, when the images (under `folder`) look like an ImageFolder layout:
    two or more class folders holding most of them; {} otherwise. Same-named folders (train/cat, test/cat) merge.
    Counted per folder in the catalog: quick at a million images."""
    counts = sampling.folder_counts(coll)
    out: dict[str, int] = {}
    for parent, name in _class_folders(counts, folder).items():
        out[name] = out.get(name, 0) + counts[parent]
    return dict(sorted(out.items()))


def import_folders(coll: Collection, folder: Path | str | None = None, user: str | None = None) -> ImportReport:
    """Label every image of a class subfolder with the folder's name (source 'import'; one undoable action)."""
    groups = _folder_classes(coll, folder)
    if not groups:
        where = f"under {folder}" if folder else "in this collection"
        raise RevsearchError(f"no class subfolders {where}: expected an ImageFolder layout (one folder per label, "
                             f"at least two, holding most of the images)")
    wanted = {i: clean_label(name) for name, ids in groups.items() for i in ids}
    current = labels(coll)
    result = ImportReport(rows=len(wanted), unchanged=sum(1 for i, lab in wanted.items() if current.get(i) == lab))
    result.labelled = label_store.set_labels(coll, {i: (lab, None) for i, lab in wanted.items()
                                                    if current.get(i) != lab}, "import", user=_who(user))
    return result


def _folder_classes(coll: Collection, folder: Path | str | None) -> dict[str, list[int]]:
    """class name -> ids of its images (see folder_classes)."""
    classes = _class_folders(sampling.folder_counts(coll), folder)
    groups: dict[str, list[int]] = {}
    for row in coll.rows("indexed") if classes else []:
        name = classes.get(os.path.dirname(row.path))
        if name is not None:
            groups.setdefault(name, []).append(row.id)
    return dict(sorted(groups.items()))


def _class_folders(counts: Mapping[str, int], folder: Path | str | None) -> dict[str, str]:
    """folder -> class name (its last component), for the folders below the images' common folder that are class
    folders — a folder with a sibling of another name (cat/ beside dog/), or named like one (test/cat when train/
    has cat/ and dog/): a lone folder such as one indexed in place is not a class — when there are two or more class
    names and they hold at least half the images (of those under `folder`); else {}."""
    if folder is not None:
        root = str(Path(folder).expanduser().resolve())
        counts = {f: n for f, n in counts.items() if (f + os.sep).startswith(root + os.sep)}
    if not counts:
        return {}
    common = os.path.commonpath(list(counts))
    siblings: dict[str, set[str]] = {}
    for f in counts:
        if f != common:
            siblings.setdefault(os.path.dirname(f), set()).add(Path(f).name)
    names = set().union(*(found for found in siblings.values() if len(found) >= 2))
    classes = {f: Path(f).name for f in counts if f != common and Path(f).name in names}
    if len(set(classes.values())) < 2 or sum(counts[f] for f in classes) * 2 < sum(counts.values()):
        return {}
    return classes
