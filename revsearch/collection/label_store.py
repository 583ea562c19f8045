"""Labels of images, with their history: every write here is one undoable action (label_actions.py) and appends to
`label_history` in the same transaction.

One label per image (`labels` table) with its source ('manual', 'cluster', 'suggestion', 'import') and confidence.
Every change is recorded — when, what, old → new, from which source — and moves the labels version (a meta value
caches compare). The rules about *what* to label (clean text, suggestions, imports) live in revsearch/labels.py.

A cluster name never overwrites a hand label (sources in HAND: 'manual', 'import'). Naming a cluster labels its
members without one: an unlabelled member gets the name, a member with a cluster label (an earlier name) gets the
new name, and a member with an accepted suggestion gets the name *over* it — the suggestion (label, confidence)
waits in `labels_beneath` and comes back exactly when the cluster's name is removed. Removing a name removes only
labels the cluster gave (source 'cluster' and that name). A hand label written over a cluster label drops what the
cluster covered: the person decided.

Every writer takes `user`, who acts (issue 20): the action, its history and the labels it gives record it. When two
people label one image the later wins; both changes stay in the history, and `overridden` finds, for the first
person, the labels of theirs someone else changed since.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from revsearch.collection import catalog, label_actions
from revsearch.collection.collection import Collection
from revsearch.collection.label_actions import Action, Recorder, UndoReport

META_VERSION = label_actions.META_VERSION
HAND = ("manual", "import")
CLUSTER = "cluster"

Assignment = tuple[str | None, float | None]  # (label or None to remove it, confidence)


@dataclass(frozen=True)
class LabelRow:
    id: int
    path: str
    label: str
    source: str
    confidence: float | None
    labelled_by: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    at: float  # unix time
    kind: str  # 'image' | 'cluster' | 'label' | 'action'
    subject: str  # image path, cluster id, label (for renames), or action id (for undos)
    event: str  # 'created' | 'changed' | 'removed' | 'renamed' | 'merged' | 'undone'
    old: str | None
    new: str | None
    source: str
    user: str | None = None  # who (None: before users were recorded)

    def as_dict(self) -> dict:
        return {"at": self.at, "kind": self.kind, "subject": self.subject, "event": self.event, "old": self.old,
                "new": self.new, "source": self.source, "user": self.user}


@dataclass(frozen=True)
class Change:
    """One change of an image's label, by whom (the label history of one image)."""

    action_id: int
    at: float
    user: str | None
    image_id: int
    path: str
    old: str | None
    new: str | None
    old_by: str | None
    description: str

    def as_dict(self) -> dict:
        return {"action": self.action_id, "at": self.at, "user": self.user, "id": self.image_id, "path": self.path,
                "old": self.old, "new": self.new, "old_by": self.old_by, "description": self.description}


# ---------------------------------------------------------------------------------------------------- reading


def version(coll: Collection) -> str:
    """Moves on every label change (caches of suggestions and the map compare it)."""
    return coll.meta(META_VERSION) or "0"


def labels(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, str]:
    """image id -> label (of every labelled image, or of those among `ids`)."""
    if ids is None:
        return {int(a): b for a, b in catalog.fetch(coll, "SELECT image_id, label FROM labels")}
    out: dict[int, str] = {}
    for chunk in catalog.chunks(ids):
        out.update({int(a): b for a, b in catalog.fetch(
            coll, f"SELECT image_id, label FROM labels WHERE image_id IN ({catalog.marks(chunk)})", chunk)})
    return out


def unlabelled_count(coll: Collection) -> int:
    """Indexed images (files present) without a label."""
    return int(catalog.fetch(coll, "SELECT COUNT(*) FROM images i LEFT JOIN labels l ON l.image_id = i.id "
                                   "WHERE i.status = 'indexed' AND i.missing_since IS NULL "
                                   "AND l.image_id IS NULL")[0][0])


def label_rows(coll: Collection) -> list[LabelRow]:
    """Every label with its image's path, source and confidence, by label then path."""
    rows = catalog.fetch(coll, "SELECT l.image_id, i.path, l.label, l.source, l.confidence, l.labelled_by "
                               "FROM labels l JOIN images i ON i.id = l.image_id ORDER BY l.label, i.path")
    return [LabelRow(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


def counts(coll: Collection) -> dict[str, int]:
    """label -> images, most common first."""
    rows = catalog.fetch(coll, "SELECT label, COUNT(*) FROM labels GROUP BY label ORDER BY COUNT(*) DESC, label")
    return {r[0]: int(r[1]) for r in rows}


def history(coll: Collection, limit: int = 200) -> list[HistoryEntry]:
    """Label changes, newest first."""
    rows = catalog.fetch(coll, "SELECT at, kind, subject, event, old, new, source, user FROM label_history "
                               "ORDER BY id DESC LIMIT ?", (int(limit),))
    return [HistoryEntry(*r) for r in rows]


_CHANGES = ("SELECT a.id, a.at, a.user, c.image_id, i.path, c.old_label, c.new_label, c.old_by, a.description "
            "FROM label_changes c JOIN label_actions a ON a.id = c.action_id JOIN images i ON i.id = c.image_id "
            "WHERE c.layer = 'label' AND ")


def image_history(coll: Collection, image_id: int, limit: int = 20) -> list[Change]:
    """The label changes of one image, newest first, with who made each."""
    rows = catalog.fetch(coll, _CHANGES + "c.image_id = ? ORDER BY a.id DESC LIMIT ?", (int(image_id), int(limit)))
    return [Change(*r) for r in rows]


def overridden(coll: Collection, user: str, after: int = 0, limit: int = 100) -> list[Change]:
    """Labels `user` had set that someone else changed (or removed) in an action after `after`, newest first."""
    rows = catalog.fetch(coll, _CHANGES + "c.old_by = ? AND a.id > ? AND (a.user IS NULL OR a.user != ?) "
                               "AND (c.new_label IS NULL OR c.new_label != c.old_label) ORDER BY a.id DESC LIMIT ?",
                         (user, int(after), user, int(limit)))
    return [Change(*r) for r in rows]


def newest_action_id(coll: Collection) -> int:
    """The id of the newest action (0 when none): where "seen up to here" marks stand."""
    return int(catalog.fetch(coll, "SELECT COALESCE(MAX(id), 0) FROM label_actions")[0][0])


def last_action(coll: Collection, user: str | None = None) -> Action | None:
    """The action `undo` would undo now for `user` (anyone's when None); None when there is nothing to undo."""
    with coll.lock:
        return label_actions.latest(coll.conn, user)


def actions(coll: Collection, limit: int = 50) -> list[Action]:
    """Labelling actions, undos included, newest first."""
    with coll.lock:
        return label_actions.recent(coll.conn, limit)


# ---------------------------------------------------------------------------------------------------- writing


def set_labels(coll: Collection, assignments: Mapping[int, Assignment], source: str, *, copies: bool = True,
               only_unlabelled: bool = False, user: str | None = None) -> int:
    """Set (label, confidence) per image id — None removes the label — as one action; returns images relabelled.

    `copies`: each image's exact copies (rows with status 'duplicate' of it) get the same value.
    `only_unlabelled`: images (copies included) that have a label by the time of writing are left alone."""
    now = time.time()
    with coll.transaction() as conn:
        todo = _with_copies(conn, assignments) if copies else dict(assignments)
        rec = Recorder(conn, source, now, user)
        for image_id, state in label_actions.states(conn, list(todo)).items():
            label, confidence = todo[image_id]
            if only_unlabelled and state.label is not None:
                continue
            if label is not None and state.label is not None and state.label[:2] == (label, source):
                continue
            rec.put(image_id, state, None if label is None else (label, source, confidence, user), None)
        kind, what = _describe(todo, source, rec.images)
        rec.finish(kind, what)
        return rec.relabelled


def label_cluster(coll: Collection, cluster_id: int, label: str | None, member_ids: Sequence[int],
                  user: str | None = None) -> int:
    """Name a cluster (None clears the name) and label `member_ids` and their copies by the rules above, as one
    action. Returns how many images' labels changed."""
    with coll.transaction() as conn:
        row = conn.execute("SELECT name FROM clusters WHERE id = ?", (int(cluster_id),)).fetchone()
        old = row[0] if row else None
        rec = Recorder(conn, CLUSTER, time.time(), user)
        if row is not None:
            rec.name(cluster_id, old, label)
        _cover(conn, rec, old, label, member_ids)
        n = f"({rec.images} image{'s' if rec.images != 1 else ''})"
        if label is None:
            what = f"removed the name {old!r} of cluster {cluster_id} {n}"
        elif old is None or old == label:
            what = f"named cluster {cluster_id} {label!r} {n}"
        else:
            what = f"renamed cluster {cluster_id} {old!r} to {label!r} {n}"
        rec.finish("name_cluster", what)
        return rec.relabelled


def record_merge(coll: Collection, cluster_id: int, merged: Sequence[int], old_name: str | None,
                 new_name: str | None, label: str | None = None, member_ids: Sequence[int] = (),
                 user: str | None = None) -> int:
    """Record clusters `merged` folded into `cluster_id` (its name was `old_name`, now `new_name`) as one action;
    with `label`, `member_ids` are labelled by the cluster rules. Returns how many images' labels changed."""
    others = ",".join(str(i) for i in sorted({int(i) for i in merged}) if i != cluster_id)
    with coll.transaction() as conn:
        rec = Recorder(conn, CLUSTER, time.time(), user)
        label_actions.history(conn, "cluster", str(cluster_id), "merged", others, str(cluster_id), "manual", rec.at,
                              user)
        rec.name(cluster_id, old_name, new_name)
        if label is not None:
            _cover(conn, rec, new_name, label, member_ids)
        named = f" {new_name!r}" if new_name else ""
        rec.finish("merge", f"merged clusters {others} into {cluster_id}{named} ({rec.images} images)")
        return rec.relabelled


def rename(coll: Collection, old: str, new: str, user: str | None = None) -> int | None:
    """Rename a label on every image and cluster as one action; None when nothing carries `old`, else how many
    images' labels were renamed."""
    with coll.transaction() as conn:
        ids = [int(r[0]) for r in conn.execute("SELECT image_id FROM labels WHERE label = ? UNION "
                                               "SELECT image_id FROM labels_beneath WHERE label = ?", (old, old))]
        named = [int(r[0]) for r in conn.execute("SELECT id FROM clusters WHERE name = ?", (old,))]
        if not ids and not named:
            return None
        if old == new:
            return 0
        rec = Recorder(conn, "manual", time.time(), user)
        for cluster_id in named:
            rec.name(cluster_id, old, new)
        for image_id, state in label_actions.states(conn, ids).items():
            rec.put(image_id, state, _renamed(state.label, old, new), _renamed(state.beneath, old, new))
        label_actions.history(conn, "label", old, "renamed", old, new, "manual", rec.at, user)  # newest first: on top
        rec.finish("rename", f"renamed label {old!r} to {new!r} ({rec.images} images)")
        return rec.relabelled


def undo(coll: Collection, user: str | None, action_id: int | None = None, others: bool = False) -> UndoReport | None:
    """Undo `user`'s newest labelling action not undone yet (or `action_id`; another person's only with `others`);
    None when there is nothing to undo."""
    with coll.transaction() as conn:
        return label_actions.undo(conn, time.time(), user, action_id, others)


# ---------------------------------------------------------------------------------------------------- internals


def _cover(conn: sqlite3.Connection, rec: Recorder, old: str | None, label: str | None,
           member_ids: Sequence[int]) -> None:
    """Apply a cluster name change (`old` → `label`) to its members and their copies; hand labels are never
    touched, an accepted suggestion is covered (and uncovered when the name goes)."""
    targets = _with_copies(conn, {int(i): (label, None) for i in member_ids})
    for image_id, state in label_actions.states(conn, list(targets)).items():
        current = state.label
        if label is None:
            if current is not None and current[1] == CLUSTER and current[0] == old:
                rec.put(image_id, state, state.beneath, None)
        elif current is None:
            rec.put(image_id, state, (label, CLUSTER, None, rec.user), None)
        elif current[1] == CLUSTER:
            rec.put(image_id, state, (label, CLUSTER, None, rec.user), state.beneath)
        elif current[1] not in HAND:
            rec.put(image_id, state, (label, CLUSTER, None, rec.user), current)


def _renamed(value: label_actions.Label | None, old: str, new: str) -> label_actions.Label | None:
    return (new, *value[1:]) if value is not None and value[0] == old else value


def _describe(todo: Mapping[int, Assignment], source: str, images: int) -> tuple[str, str]:
    """(kind, description) of a set_labels action."""
    n = f"{images} image{'s' if images != 1 else ''}"
    names = {label for label, _ in todo.values()}
    if names == {None}:
        return "unlabel", f"removed the labels of {n}"
    if source == "suggestion":
        return "accept", f"accepted {images} suggestion{'s' if images != 1 else ''}"
    if source == "import":
        return "import", f"imported labels for {n}"
    return "label", f"labelled {n}" + (f" {next(iter(names))!r}" if len(names) == 1 else "")


def _with_copies(conn: sqlite3.Connection, assignments: Mapping[int, Assignment]) -> dict[int, Assignment]:
    """The assignments plus the same value for every exact copy of each image (originals first)."""
    out = {int(i): a for i, a in assignments.items()}
    originals = list(out)
    for chunk in catalog.chunks(originals):
        for dup, orig in conn.execute(f"SELECT id, duplicate_of FROM images WHERE status = 'duplicate' "
                                      f"AND duplicate_of IN ({catalog.marks(chunk)})", chunk).fetchall():
            out.setdefault(int(dup), out[int(orig)])
    return out
