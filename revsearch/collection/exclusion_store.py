"""Images left out of every export (`exclusions`: reason, when), each change one undoable action.

An exclusion is a person's decision about the dataset (a junk photo, a wrong kind of image), not about the image:
the image stays searchable and labelled. `change` writes the new state of some images in one transaction and records
the before/after of each (`exclusion_changes`) under one `exclusion_actions` row; `undo` puts back the *before* of every
image that still holds the action's *after* (one changed again since is skipped and named, never overwritten), the
way labelling actions are undone (label_actions.py). The rules (which images, copies, reason text) live in
revsearch/exclusions.py.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from revsearch.collection import catalog
from revsearch.collection.collection import Collection
from revsearch.collection.label_actions import Action  # the same record: id, at, kind, description, images, undone_at

META_VERSION = "exclusions_version"
UNDO = "undo"

State = tuple[str, float] | None  # (reason, unix time excluded), or None: not excluded


@dataclass
class UndoReport:
    action: Action  # what was undone
    restored: int = 0  # images put back as they were before it
    skipped: list[str] = field(default_factory=list)  # paths of images excluded or included again since

    def as_dict(self) -> dict:
        return {"undone": self.action.as_dict(), "restored": self.restored, "skipped": self.skipped}


_ACTION = "SELECT id, at, kind, description, images, undone_at FROM exclusion_actions"


def states(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, tuple[str, float]]:
    """image id -> (reason, at) of every excluded image, or of the excluded ones among `ids`."""
    if ids is None:
        return {int(i): (r, float(a)) for i, r, a in catalog.fetch(coll, "SELECT image_id, reason, at FROM exclusions")}
    out: dict[int, tuple[str, float]] = {}
    for chunk in catalog.chunks(ids):
        out.update({int(i): (r, float(a)) for i, r, a in catalog.fetch(
            coll, f"SELECT image_id, reason, at FROM exclusions WHERE image_id IN ({catalog.marks(chunk)})", chunk)})
    return out


def same_content(coll: Collection, ids: Sequence[int]) -> list[int]:
    """`ids` plus every row of the same picture: the originals of exact copies among them, and all their copies."""
    family = {int(i) for i in ids}
    for chunk in catalog.chunks(sorted(family)):
        family.update(int(o) for (o,) in catalog.fetch(
            coll, f"SELECT duplicate_of FROM images WHERE id IN ({catalog.marks(chunk)}) AND status = 'duplicate' "
                  "AND duplicate_of IS NOT NULL", chunk))
    for chunk in catalog.chunks(sorted(family)):
        family.update(int(c) for (c,) in catalog.fetch(
            coll, f"SELECT id FROM images WHERE status = 'duplicate' AND duplicate_of IN ({catalog.marks(chunk)})",
            chunk))
    return sorted(family)


def count(coll: Collection) -> int:
    return int(catalog.fetch(coll, "SELECT COUNT(*) FROM exclusions")[0][0])


def version(coll: Collection) -> str:
    """Moves on every change (caches of views that leave excluded images out compare it)."""
    return coll.meta(META_VERSION) or "0"


def latest(coll: Collection) -> Action | None:
    """The newest action not undone yet (undos themselves are not undone)."""
    with coll.lock:
        return _open_action(coll.conn, None)


def change(coll: Collection, new: Mapping[int, State], kind: str, description: str) -> int:
    """Give images a new state as one action; returns how many changed (no action is stored when none did)."""
    with coll.transaction() as conn:
        return _apply(conn, new, kind, description, time.time(), None)


def undo(coll: Collection, action_id: int | None = None) -> UndoReport | None:
    """Undo one action (default: the newest not undone yet); None when there is none to undo."""
    now = time.time()
    with coll.transaction() as conn:
        target = _open_action(conn, action_id)
        if target is None:
            return None
        report = UndoReport(target)
        before: dict[int, State] = {}
        rows = conn.execute("SELECT c.image_id, c.old_reason, c.old_at, c.new_reason, c.new_at, i.path, e.reason, e.at "
                            "FROM exclusion_changes c JOIN images i ON i.id = c.image_id LEFT JOIN exclusions e "
                            "ON e.image_id = c.image_id WHERE c.action_id = ?", (report.action.id,)).fetchall()
        for image_id, old_r, old_at, new_r, new_at, path, now_r, now_at in rows:
            if _state(now_r, now_at) != _state(new_r, new_at):
                report.skipped.append(path)
                continue
            before[int(image_id)] = _state(old_r, old_at)
        report.restored = _apply(conn, before, UNDO, f"undid: {report.action.description}", now, report.action.id)
        conn.execute("UPDATE exclusion_actions SET undone_at = ? WHERE id = ?", (now, report.action.id))
        return report


def _open_action(conn: sqlite3.Connection, action_id: int | None) -> Action | None:
    """The action `action_id` (default: the newest) when it is not undone yet and not itself an undo."""
    if action_id is None:
        row = conn.execute(f"{_ACTION} WHERE undone_at IS NULL AND kind != ? ORDER BY id DESC LIMIT 1",
                           (UNDO,)).fetchone()
    else:
        row = conn.execute(f"{_ACTION} WHERE id = ? AND undone_at IS NULL AND kind != ?",
                           (int(action_id), UNDO)).fetchone()
    return Action(*row) if row else None


def _state(reason: str | None, at: float | None) -> State:
    return None if reason is None else (reason, float(at or 0.0))


def _apply(conn: sqlite3.Connection, new: Mapping[int, State], kind: str, description: str, now: float,
           undo_of: int | None) -> int:
    """Write the states inside an open transaction and record them as one action."""
    ids = [int(i) for i in new]
    current: dict[int, State] = {}
    for chunk in catalog.chunks(ids):
        current.update({int(i): None for (i,) in conn.execute(
            f"SELECT id FROM images WHERE id IN ({catalog.marks(chunk)})", chunk)})
        current.update({int(i): (r, float(a)) for i, r, a in conn.execute(
            f"SELECT image_id, reason, at FROM exclusions WHERE image_id IN ({catalog.marks(chunk)})", chunk)})
    changes = [(i, current[i], new[i]) for i in ids if i in current and current[i] != new[i]]
    if not changes and undo_of is None:
        return 0
    conn.executemany("DELETE FROM exclusions WHERE image_id = ?", [(i,) for i, _, after in changes if after is None])
    conn.executemany("INSERT OR REPLACE INTO exclusions(image_id, reason, at) VALUES(?, ?, ?)",
                     [(i, *after) for i, _, after in changes if after is not None])
    action_id = conn.execute("INSERT INTO exclusion_actions(at, kind, description, images, undo_of) "
                             "VALUES(?, ?, ?, ?, ?) RETURNING id",
                             (now, kind, description, len(changes), undo_of)).fetchone()[0]
    conn.executemany("INSERT INTO exclusion_changes(action_id, image_id, old_reason, old_at, new_reason, new_at) "
                     "VALUES(?, ?, ?, ?, ?, ?)",
                     [(action_id, i, *(old or (None, None)), *(after or (None, None))) for i, old, after in changes])
    catalog.set_meta(conn, META_VERSION, int(catalog.get_meta(conn, META_VERSION) or 0) + 1)
    return len(changes)
