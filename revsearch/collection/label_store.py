"""Labels of images, with their history: every write here also appends to `label_history` in the same transaction.

One label per image (`labels` table) with its source ('manual', 'cluster', 'suggestion', 'import') and confidence.
Every change is recorded — when, what, old → new, from which source — and moves the labels version (a meta value
caches compare). The rules about *what* to label (clean text, suggestions, imports) live in revsearch/labels.py.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from revsearch.collection import catalog
from revsearch.collection.collection import Collection

META_VERSION = "labels_version"

Assignment = tuple[str | None, float | None]  # (label or None to remove it, confidence)


@dataclass(frozen=True)
class LabelRow:
    id: int
    path: str
    label: str
    source: str
    confidence: float | None


@dataclass(frozen=True)
class HistoryEntry:
    at: float  # unix time
    kind: str  # 'image' | 'cluster' | 'label'
    subject: str  # image path, cluster id, or label (for renames)
    event: str  # 'created' | 'changed' | 'removed' | 'renamed' | 'merged'
    old: str | None
    new: str | None
    source: str

    def as_dict(self) -> dict:
        return {"at": self.at, "kind": self.kind, "subject": self.subject, "event": self.event, "old": self.old,
                "new": self.new, "source": self.source}


# ---------------------------------------------------------------------------------------------------- reading


def version(coll: Collection) -> str:
    """Moves on every label change (caches of suggestions and the map compare it)."""
    return coll.meta(META_VERSION) or "0"


def labels(coll: Collection) -> dict[int, str]:
    """image id -> label."""
    return {int(a): b for a, b in catalog.fetch(coll, "SELECT image_id, label FROM labels")}


def label_rows(coll: Collection) -> list[LabelRow]:
    """Every label with its image's path, source and confidence, by label then path."""
    rows = catalog.fetch(coll, "SELECT l.image_id, i.path, l.label, l.source, l.confidence FROM labels l "
                               "JOIN images i ON i.id = l.image_id ORDER BY l.label, i.path")
    return [LabelRow(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def counts(coll: Collection) -> dict[str, int]:
    """label -> images, most common first."""
    rows = catalog.fetch(coll, "SELECT label, COUNT(*) FROM labels GROUP BY label ORDER BY COUNT(*) DESC, label")
    return {r[0]: int(r[1]) for r in rows}


def history(coll: Collection, limit: int = 200) -> list[HistoryEntry]:
    """Label changes, newest first."""
    rows = catalog.fetch(coll, "SELECT at, kind, subject, event, old, new, source FROM label_history "
                               "ORDER BY id DESC LIMIT ?", (int(limit),))
    return [HistoryEntry(*r) for r in rows]


# ---------------------------------------------------------------------------------------------------- writing


def set_labels(coll: Collection, assignments: Mapping[int, Assignment], source: str, *, copies: bool = True,
               only_unlabelled: bool = False) -> int:
    """Set (label, confidence) per image id — None removes the label — in one transaction; returns rows changed.

    `copies`: each image's exact copies (rows with status 'duplicate' of it) get the same value.
    `only_unlabelled`: images that have a label by the time of writing are left alone (with their copies)."""
    with coll.transaction() as conn:
        todo = dict(assignments)
        if only_unlabelled:
            labelled = _labelled(conn, list(todo))
            todo = {i: a for i, a in todo.items() if i not in labelled}
        if copies:
            todo = _with_copies(conn, todo)
        return _set_labels(conn, todo, source, time.time())


def label_cluster(coll: Collection, cluster_id: int, label: str | None, member_ids: Sequence[int]) -> int:
    """Name a cluster and give `member_ids` (and their copies) that label, source 'cluster', in one transaction.

    None clears the name and only the labels the cluster gave. Returns how many images' labels changed."""
    now = time.time()
    with coll.transaction() as conn:
        row = conn.execute("SELECT name FROM clusters WHERE id = ?", (int(cluster_id),)).fetchone()
        old_name = row[0] if row else None
        conn.execute("UPDATE clusters SET name = ? WHERE id = ?", (label, int(cluster_id)))
        if old_name != label:
            event = "created" if old_name is None else ("removed" if label is None else "changed")
            _history(conn, "cluster", str(cluster_id), event, old_name, label, "manual", now)
        targets = list(_with_copies(conn, {int(i): (label, None) for i in member_ids}))
        if label is None:
            given = _labelled(conn, targets, source="cluster")
            targets = [i for i in targets if i in given]
        return _set_labels(conn, {i: (label, None) for i in targets}, "cluster", now)


def record_merge(coll: Collection, cluster_id: int, merged: Sequence[int]) -> None:
    """History entry for clusters `merged` folded into `cluster_id`."""
    others = ",".join(str(i) for i in sorted({int(i) for i in merged}) if i != cluster_id)
    with coll.transaction() as conn:
        _history(conn, "cluster", str(cluster_id), "merged", others, str(cluster_id), "manual", time.time())


def rename(coll: Collection, old: str, new: str) -> int | None:
    """Rename a label on every image and cluster; None when nothing carries `old`, else images renamed."""
    now = time.time()
    with coll.transaction() as conn:
        ids = [int(r[0]) for r in conn.execute("SELECT image_id FROM labels WHERE label = ?", (old,))]
        named = conn.execute("SELECT COUNT(*) FROM clusters WHERE name = ?", (old,)).fetchone()[0]
        if not ids and not named:
            return None
        if old == new:
            return 0
        conn.execute("UPDATE clusters SET name = ? WHERE name = ?", (new, old))
        for chunk in catalog.chunks(ids):
            marks = catalog.marks(chunk)
            for r in conn.execute(f"SELECT l.image_id, i.path FROM labels l JOIN images i ON i.id = l.image_id "
                                  f"WHERE l.image_id IN ({marks})", chunk).fetchall():
                _history(conn, "image", r[1], "changed", old, new, "manual", now)
            conn.execute(f"UPDATE labels SET label = ?, updated_at = ? WHERE image_id IN ({marks})", [new, now, *chunk])
        _history(conn, "label", old, "renamed", old, new, "manual", now)  # last, so newest-first shows it on top
        _bump(conn)
    return len(ids)


# ---------------------------------------------------------------------------------------------------- internals


def _bump(conn: sqlite3.Connection) -> None:
    catalog.set_meta(conn, META_VERSION, int(catalog.get_meta(conn, META_VERSION) or 0) + 1)


def _history(conn: sqlite3.Connection, kind: str, subject: str, event: str, old: str | None, new: str | None,
             source: str, at: float) -> None:
    conn.execute("INSERT INTO label_history(at, kind, subject, event, old, new, source) VALUES(?, ?, ?, ?, ?, ?, ?)",
                 (at, kind, subject, event, old, new, source))


def _labelled(conn: sqlite3.Connection, ids: Sequence[int], source: str | None = None) -> set[int]:
    """Which of `ids` have a label (given by `source`, when set)."""
    out: set[int] = set()
    for chunk in catalog.chunks(ids):
        sql = f"SELECT image_id FROM labels WHERE image_id IN ({catalog.marks(chunk)})"
        params: list[object] = list(chunk)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        out.update(int(r[0]) for r in conn.execute(sql, params))
    return out


def _with_copies(conn: sqlite3.Connection, assignments: Mapping[int, Assignment]) -> dict[int, Assignment]:
    """The assignments plus the same value for every exact copy of each image (originals first)."""
    out = {int(i): a for i, a in assignments.items()}
    originals = list(out)
    for chunk in catalog.chunks(originals):
        for dup, orig in conn.execute(f"SELECT id, duplicate_of FROM images WHERE status = 'duplicate' "
                                      f"AND duplicate_of IN ({catalog.marks(chunk)})", chunk).fetchall():
            out.setdefault(int(dup), out[int(orig)])
    return out


def _set_labels(conn: sqlite3.Connection, assignments: Mapping[int, Assignment], source: str, at: float) -> int:
    """Write label (or None to remove) per image id inside an open transaction; history per change. Rows changed."""
    if not assignments:
        return 0
    current: dict[int, tuple[str, str]] = {}
    paths: dict[int, str] = {}
    for chunk in catalog.chunks(list(assignments)):
        for r in conn.execute(f"SELECT i.id, i.path, l.label, l.source FROM images i LEFT JOIN labels l "
                              f"ON l.image_id = i.id WHERE i.id IN ({catalog.marks(chunk)})", chunk):
            paths[int(r[0])] = r[1]
            if r[2] is not None:
                current[int(r[0])] = (r[2], r[3])
    changed = 0
    for image_id, (label, confidence) in assignments.items():
        if image_id not in paths:
            continue
        old = current.get(image_id, (None, None))[0]
        if label is None:
            if old is None:
                continue
            conn.execute("DELETE FROM labels WHERE image_id = ?", (image_id,))
            _history(conn, "image", paths[image_id], "removed", old, None, source, at)
        else:
            if old == label and current[image_id][1] == source:
                continue
            conn.execute("INSERT INTO labels(image_id, label, source, confidence, updated_at) VALUES(?, ?, ?, ?, ?) "
                         "ON CONFLICT(image_id) DO UPDATE SET label = excluded.label, source = excluded.source, "
                         "confidence = excluded.confidence, updated_at = excluded.updated_at",
                         (image_id, label, source, confidence, at))
            if old != label:
                _history(conn, "image", paths[image_id], "created" if old is None else "changed", old, label,
                         source, at)
        changed += 1 if old != label else 0
    _bump(conn)
    return changed
