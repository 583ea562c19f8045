"""What the audit keeps in the catalog: pixel quality measures per image, and labels a person confirmed as right.

Measures (`pixel_measures`: float32 values as a blob) are written by indexing in the same transaction as the image's
row (RowWriter.put_measures) or later, on demand, for images indexed before measures existed (`save_measures`). A row
remembers the content hash and the measure definition (`version`, revsearch/indexing/pixel_measures.VERSION, which
the callers pass: this store runs no image code) it describes: measures of older content or of another definition
count as missing and are taken again.

A confirmation (`label_confirmations`) is (image, label): "this image really is a <label>". It holds while the image
keeps that label — relabelled, the image can be reported again. Confirming and unconfirming move a version (a meta
value) that cached audits compare.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Mapping, Sequence

import numpy as np

from revsearch.collection import catalog
from revsearch.collection.collection import Collection

META_CONFIRMED = "confirmations_version"


# ---------------------------------------------------------------------------------------------------- measures


def save_measures(coll: Collection, rows: Sequence[tuple[int, str | None, np.ndarray]], version: int) -> None:
    """Store measures (id, content hash, values) taken on demand, in one transaction."""
    if not rows:
        return
    with coll.batch() as writer:
        for image_id, content, values in rows:
            writer.put_measures(image_id, content, values, version)


_CURRENT = ("FROM images i JOIN pixel_measures m ON m.image_id = i.id WHERE i.status = 'indexed' "
            "AND i.missing_since IS NULL AND m.version = ? AND m.hash IS i.hash")


def measures(coll: Collection, version: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64[n], values float32[n, width]) of the present indexed images whose measures are of `version` and
    of their current content."""
    rows = catalog.fetch(coll, f"SELECT i.id, m.vals {_CURRENT} ORDER BY i.id", (int(version),))
    rows = [r for r in rows if len(r[1]) == 4 * width]
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.zeros((len(rows), width), dtype=np.float32)
    for n, r in enumerate(rows):
        values[n] = np.frombuffer(r[1], dtype=np.float32)
    return ids, values


def unmeasured(coll: Collection, version: int) -> list[tuple[int, str, str | None, int | None, int | None]]:
    """(id, path, content hash, size, mtime_ns) of present indexed images without measures of `version` for their
    current content, by id."""
    rows = catalog.fetch(coll, "SELECT i.id, i.path, i.hash, i.size, i.mtime_ns FROM images i WHERE i.status = "
                               "'indexed' AND i.missing_since IS NULL AND NOT EXISTS (SELECT 1 FROM pixel_measures m "
                               "WHERE m.image_id = i.id AND m.version = ? AND m.hash IS i.hash) ORDER BY i.id",
                         (int(version),))
    return [(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def dimensions(coll: Collection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, widths, heights) int64 arrays of the present indexed images, by id (0 where a size is unknown)."""
    with coll.lock:
        cursor = coll.conn.cursor()
        cursor.row_factory = None  # plain tuples straight into one array: no Python object per image kept
        table = np.array(cursor.execute("SELECT id, COALESCE(width, 0), COALESCE(height, 0) FROM images WHERE "
                                        "status = 'indexed' AND missing_since IS NULL ORDER BY id").fetchall(),
                         dtype=np.int64).reshape(-1, 3)
    return table[:, 0], table[:, 1], table[:, 2]


def labels_with_sources(coll: Collection) -> list[tuple[int, str, str]]:
    """(image id, label, source) of every labelled present indexed image, by id (no paths: cheap at any size)."""
    rows = catalog.fetch(coll, "SELECT l.image_id, l.label, l.source FROM labels l JOIN images i ON i.id = l.image_id "
                               "WHERE i.status = 'indexed' AND i.missing_since IS NULL ORDER BY l.image_id")
    return [(int(r[0]), r[1], r[2]) for r in rows]


# ---------------------------------------------------------------------------------------------------- confirmations


def confirmed(coll: Collection) -> dict[int, str]:
    """image id -> the label a person confirmed for it (whatever its label is now)."""
    return {int(a): b for a, b in catalog.fetch(coll, "SELECT image_id, label FROM label_confirmations")}


def confirm(coll: Collection, labels: Mapping[int, str]) -> int:
    """Remember each image's label as confirmed; returns how many confirmations are new or changed."""
    now = time.time()
    changed = 0
    with coll.transaction() as conn:
        for image_id, label in labels.items():
            row = conn.execute("SELECT label FROM label_confirmations WHERE image_id = ?", (int(image_id),)).fetchone()
            if row is not None and row[0] == label:
                continue
            conn.execute("INSERT OR REPLACE INTO label_confirmations(image_id, label, at) VALUES(?, ?, ?)",
                         (int(image_id), label, now))
            changed += 1
        if changed:
            _bump(conn)
    return changed


def unconfirm(coll: Collection, ids: Sequence[int]) -> dict[int, str]:
    """Forget confirmations; returns the ones removed (id -> label), so a caller can put them back."""
    removed: dict[int, str] = {}
    with coll.transaction() as conn:
        for chunk in catalog.chunks(ids):
            removed.update({int(a): b for a, b in conn.execute(
                f"SELECT image_id, label FROM label_confirmations WHERE image_id IN ({catalog.marks(chunk)})", chunk)})
            conn.execute(f"DELETE FROM label_confirmations WHERE image_id IN ({catalog.marks(chunk)})", chunk)
        if removed:
            _bump(conn)
    return removed


def version(coll: Collection) -> str:
    """Moves on every confirmation change (cached audits compare it)."""
    return coll.meta(META_CONFIRMED) or "0"


def _bump(conn: sqlite3.Connection) -> None:
    catalog.set_meta(conn, META_CONFIRMED, int(catalog.get_meta(conn, META_CONFIRMED) or 0) + 1)
