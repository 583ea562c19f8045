"""Labelling actions: every label write is one recorded, undoable action (issue 9: never lose a person's work).

An image's label state has two layers: its label (`labels`: label, source, confidence) and what a cluster label
covers (`labels_beneath`, an accepted suggestion that comes back when the cluster's name goes). A `Recorder` writes
both layers inside the caller's transaction, appends `label_history` for every change of label text, and keeps the
before/after of each layer it touched; `finish` stores them as one `label_actions` row with its `label_changes`
and `label_action_clusters` (cluster names). `undo` puts back the *before* of every image whose layers still hold
the action's *after*; an image changed again since is skipped and named in the report, never overwritten.

Who did what (issue 20): an action, its history entries and the labels it writes carry its user; a label keeps who
set it (`labelled_by`, part of a layer's value, so undo restores it too). A person undoes their own actions (and
those from before users were recorded); another person's only when allowed (`others`, an admin).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Sequence

from revsearch.collection import catalog
from revsearch.errors import RevsearchError

META_VERSION = "labels_version"
LAYERS = ("label", "beneath")
UNDO = "undo"

Label = tuple[str, str, float | None, str | None]  # (label, source, confidence, labelled_by)
ACTION_COLUMNS = "id, at, kind, description, images, undone_at, user"


@dataclass(frozen=True)
class ImageState:
    path: str
    label: Label | None
    beneath: Label | None


@dataclass(frozen=True)
class Action:
    id: int
    at: float  # unix time
    kind: str  # 'label' | 'unlabel' | 'accept' | 'import' | 'name_cluster' | 'merge' | 'rename' | 'undo'
    description: str  # e.g. "named cluster 3 'dress' (12 images)"
    images: int  # images whose label state it changed
    undone_at: float | None
    user: str | None = None  # who did it (None: before users were recorded)

    def as_dict(self) -> dict:
        return {"id": self.id, "at": self.at, "kind": self.kind, "description": self.description,
                "images": self.images, "undone_at": self.undone_at, "user": self.user}


@dataclass
class UndoReport:
    action: Action  # what was undone
    restored: int = 0  # images put back as they were before it
    skipped: list[str] = field(default_factory=list)  # paths of images whose label changed again since
    clusters: int = 0  # cluster names put back
    clusters_skipped: list[int] = field(default_factory=list)  # clusters renamed (or gone) since
    note: str | None = None

    def as_dict(self) -> dict:
        return {"undone": self.action.as_dict(), "restored": self.restored, "skipped": self.skipped,
                "clusters_restored": self.clusters, "clusters_skipped": self.clusters_skipped, "note": self.note}


# ---------------------------------------------------------------------------------------------------- reading


def states(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, ImageState]:
    """Both label layers of each existing image of `ids`."""
    out: dict[int, ImageState] = {}
    for chunk in catalog.chunks(ids):
        for r in conn.execute(
                "SELECT i.id, i.path, l.label, l.source, l.confidence, l.labelled_by, b.label, b.source, "
                "b.confidence, b.labelled_by FROM images i LEFT JOIN labels l ON l.image_id = i.id "
                f"LEFT JOIN labels_beneath b ON b.image_id = i.id WHERE i.id IN ({catalog.marks(chunk)})", chunk):
            out[int(r[0])] = ImageState(r[1], _label(*r[2:6]), _label(*r[6:10]))
    return out


def latest(conn: sqlite3.Connection, user: str | None = None) -> Action | None:
    """The newest labelling action not undone yet (undos themselves are not undone): anyone's, or `user`'s own
    (actions from before users were recorded count as everyone's)."""
    mine = "" if user is None else " AND (user = ? OR user IS NULL)"
    row = conn.execute(f"SELECT {ACTION_COLUMNS} FROM label_actions WHERE undone_at IS NULL AND kind != ?{mine} "
                       "ORDER BY id DESC LIMIT 1", (UNDO,) if user is None else (UNDO, user)).fetchone()
    return Action(*row) if row else None


def recent(conn: sqlite3.Connection, limit: int) -> list[Action]:
    """Actions (undos included), newest first."""
    rows = conn.execute(f"SELECT {ACTION_COLUMNS} FROM label_actions ORDER BY id DESC LIMIT ?",
                        (int(limit),)).fetchall()
    return [Action(*r) for r in rows]


def _label(label: str | None, source: str | None, confidence: float | None, by: str | None) -> Label | None:
    return None if label is None else (label, source or "", confidence, by)


# ---------------------------------------------------------------------------------------------------- writing


def history(conn: sqlite3.Connection, kind: str, subject: str, event: str, old: str | None, new: str | None,
            source: str, at: float, user: str | None) -> None:
    conn.execute("INSERT INTO label_history(at, kind, subject, event, old, new, source, user) "
                 "VALUES(?, ?, ?, ?, ?, ?, ?, ?)", (at, kind, subject, event, old, new, source, user))


def bump(conn: sqlite3.Connection) -> None:
    """Move the labels version (caches of suggestions and the map compare it)."""
    catalog.set_meta(conn, META_VERSION, int(catalog.get_meta(conn, META_VERSION) or 0) + 1)


def _event(old: str | None, new: str | None) -> str:
    return "created" if old is None else ("removed" if new is None else "changed")


class Recorder:
    """The writes of one action inside an open transaction; `finish` stores it as one undoable action."""

    def __init__(self, conn: sqlite3.Connection, source: str, at: float, user: str | None) -> None:
        self.conn = conn
        self.source = source  # the history entries' source
        self.at = at
        self.user = user  # who acts: recorded on the action, its history, and the labels it gives
        self.relabelled = 0  # images whose label text changed
        self._layers: dict[tuple[int, str], list[Label | None]] = {}  # (image, layer) -> [before, after]
        self._names: dict[int, list[str | None]] = {}  # cluster -> [before, after]

    @property
    def images(self) -> int:
        return len({image for image, _ in self._layers})

    def put(self, image_id: int, state: ImageState, label: Label | None, beneath: Label | None) -> None:
        """Give an image these two layers (None removes one); history when its label text changes."""
        if label is None:
            beneath = None  # nothing covers anything on an unlabelled image
        for layer, old, new, table in (("label", state.label, label, "labels"),
                                       ("beneath", state.beneath, beneath, "labels_beneath")):
            if old == new:
                continue
            if new is None:
                self.conn.execute(f"DELETE FROM {table} WHERE image_id = ?", (image_id,))
            elif table == "labels":
                self.conn.execute(
                    "INSERT INTO labels(image_id, label, source, confidence, labelled_by, updated_at) "
                    "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(image_id) DO UPDATE SET label = excluded.label, "
                    "source = excluded.source, confidence = excluded.confidence, labelled_by = excluded.labelled_by, "
                    "updated_at = excluded.updated_at", (image_id, *new, self.at))
            else:
                self.conn.execute("INSERT OR REPLACE INTO labels_beneath(image_id, label, source, confidence, "
                                  "labelled_by) VALUES(?, ?, ?, ?, ?)", (image_id, *new))
            self._layers.setdefault((image_id, layer), [old, new])[1] = new
        old_text, new_text = (state.label or (None,))[0], (label or (None,))[0]
        if old_text != new_text:
            history(self.conn, "image", state.path, _event(old_text, new_text), old_text, new_text, self.source,
                    self.at, self.user)
            self.relabelled += 1

    def name(self, cluster_id: int, old: str | None, new: str | None, source: str = "manual") -> None:
        """Set a cluster's name (recorded, with history when it differs)."""
        self.conn.execute("UPDATE clusters SET name = ? WHERE id = ?", (new, int(cluster_id)))
        if old != new:
            history(self.conn, "cluster", str(cluster_id), _event(old, new), old, new, source, self.at, self.user)
            self._names.setdefault(int(cluster_id), [old, new])[1] = new

    def finish(self, kind: str, description: str, undo_of: int | None = None) -> int | None:
        """Store the action (nothing is stored when nothing changed, unless it is an undo); its id."""
        layers = {key: v for key, v in self._layers.items() if v[0] != v[1]}
        names = {key: v for key, v in self._names.items() if v[0] != v[1]}
        if not layers and not names and undo_of is None:
            return None
        action_id = int(self.conn.execute(
            "INSERT INTO label_actions(at, kind, description, images, undo_of, user) VALUES(?, ?, ?, ?, ?, ?) "
            "RETURNING id", (self.at, kind, description, len({i for i, _ in layers}), undo_of, self.user),
        ).fetchone()[0])
        self.conn.executemany(
            "INSERT INTO label_changes(action_id, image_id, layer, old_label, old_source, old_confidence, old_by, "
            "new_label, new_source, new_confidence, new_by) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(action_id, image, layer, *(old or (None,) * 4), *(new or (None,) * 4))
             for (image, layer), (old, new) in layers.items()])
        self.conn.executemany("INSERT INTO label_action_clusters(action_id, cluster_id, old_name, new_name) "
                              "VALUES(?, ?, ?, ?)", [(action_id, c, old, new) for c, (old, new) in names.items()])
        bump(self.conn)
        return action_id


# ---------------------------------------------------------------------------------------------------- undo


def undo(conn: sqlite3.Connection, at: float, user: str | None, action_id: int | None = None,
         others: bool = False) -> UndoReport | None:
    """Undo one action by `user` inside an open transaction (default: their newest not undone yet); None when there
    is none. Another person's action only with `others` (an admin), else an error naming whose it is.

    Images whose layers no longer hold what the action wrote (a later change, made elsewhere) are skipped and
    named; the action counts as undone all the same, so the next undo goes one level deeper."""
    if action_id is None:
        target = latest(conn, user)
    else:
        row = conn.execute(f"SELECT {ACTION_COLUMNS} FROM label_actions WHERE id = ? AND undone_at IS NULL "
                           "AND kind != ?", (int(action_id), UNDO)).fetchone()
        target = Action(*row) if row else None
    if target is None:
        return None
    if target.user is not None and target.user != user and not others:
        raise RevsearchError(f"“{target.description}” is {target.user}'s action: you can undo your own actions; "
                             "an admin can undo anyone's")
    report = UndoReport(target)
    wanted: dict[int, dict[str, tuple[Label | None, Label | None]]] = {}
    for r in conn.execute("SELECT image_id, layer, old_label, old_source, old_confidence, old_by, new_label, "
                          "new_source, new_confidence, new_by FROM label_changes WHERE action_id = ?", (target.id,)):
        wanted.setdefault(int(r[0]), {})[r[1]] = (_label(*r[2:6]), _label(*r[6:10]))
    rec = Recorder(conn, UNDO, at, user)
    current = states(conn, list(wanted))
    for image_id, layers in sorted(wanted.items()):
        state = current.get(image_id)
        if state is None:  # the image left the collection; its change rows went with it
            continue
        now = {"label": state.label, "beneath": state.beneath}
        if any(now[layer] != after for layer, (_, after) in layers.items()):
            report.skipped.append(state.path)
            continue
        before = {layer: old for layer, (old, _) in layers.items()}
        rec.put(image_id, state, before.get("label", state.label), before.get("beneath", state.beneath))
        report.restored += 1
    for cluster_id, old, new in conn.execute("SELECT cluster_id, old_name, new_name FROM label_action_clusters "
                                             "WHERE action_id = ?", (target.id,)).fetchall():
        row = conn.execute("SELECT name FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
        if row is None or row[0] != new:
            report.clusters_skipped.append(int(cluster_id))
            continue
        rec.name(cluster_id, new, old, source=UNDO)
        report.clusters += 1
    if target.kind == "merge":
        report.note = "the clusters stay merged (labels and names are restored; re-cluster to split them)"
    conn.execute("UPDATE label_actions SET undone_at = ? WHERE id = ?", (at, target.id))
    history(conn, "action", str(target.id), "undone", target.description, None, UNDO, at, user)
    rec.finish(UNDO, f"undid: {target.description}", undo_of=target.id)
    return report
