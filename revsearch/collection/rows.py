"""Image rows and their vectors: the one place that inserts, updates and deletes them.

`Collection.add_rows`, `Collection.remove` and incremental sync all write through a `RowWriter`, which works inside one
open catalog transaction and remembers whether the set of vectors changed (then the collection's generation moves).

A row whose file is no longer found is *missing* (`missing_since` set), never deleted by a sync: it keeps its id,
labels and cluster membership, and its vector waits in `parked_vectors`, so the `vectors` table always holds exactly
the searchable images. `restore` brings it back (same path, or a new path with the same content: a move).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from revsearch.errors import RevsearchError

STATUSES = ("indexed", "skipped", "duplicate")

_UPSERT = """
INSERT INTO images(path, hash, size, mtime_ns, width, height, status, reason, duplicate_of, added_at, updated_at)
VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(path) DO UPDATE SET hash=excluded.hash, size=excluded.size, mtime_ns=excluded.mtime_ns,
    width=excluded.width, height=excluded.height, status=excluded.status, reason=excluded.reason,
    duplicate_of=excluded.duplicate_of, updated_at=excluded.updated_at, missing_since=NULL
RETURNING id"""
_UNPARK = "INSERT OR REPLACE INTO vectors(image_id, vec) SELECT image_id, vec FROM parked_vectors WHERE image_id = ?"


@dataclass(frozen=True)
class ImageRow:
    """One catalog row as the rest of revsearch sees it."""

    id: int
    path: str
    status: str
    reason: str | None
    hash: str | None
    size: int | None
    mtime_ns: int | None
    width: int | None
    height: int | None
    duplicate_of: int | None
    missing_since: float | None = None  # unix time the file was last not found; None while it is present

    @property
    def missing(self) -> bool:
        return self.missing_since is not None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> "ImageRow":
        return cls(row["id"], row["path"], row["status"], row["reason"], row["hash"], row["size"], row["mtime_ns"],
                   row["width"], row["height"], row["duplicate_of"], row["missing_since"])


@dataclass(frozen=True)
class NewRow:
    """A row to write with `Collection.add_rows` (upserted by path)."""

    path: str  # absolute path
    hash: str | None = None  # sha256 hex of the content
    size: int | None = None
    mtime_ns: int | None = None
    width: int | None = None
    height: int | None = None
    status: str = "indexed"  # 'indexed' | 'skipped' | 'duplicate'
    reason: str | None = None  # why skipped
    duplicate_of: int | None = None

    def check(self) -> None:
        """Refuse rows the catalog must never hold, with a message naming the row."""
        if self.status not in STATUSES:
            raise RevsearchError(f"{self.path}: status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if not os.path.isabs(self.path):
            raise RevsearchError(f"catalog paths are absolute, not {self.path!r}")


class RowWriter:
    """Row and vector writes inside one open transaction (see `Collection.batch`)."""

    def __init__(self, conn: sqlite3.Connection, encode: Callable[[np.ndarray], bytes]) -> None:
        self._conn = conn
        self._encode = encode
        self.vectors_changed = False

    def upsert(self, row: NewRow, vector: np.ndarray | None = None) -> int:
        """Insert or update the row for `row.path`; returns its id.

        An indexed row gets `vector` (None keeps the vector it already has); any other row loses its vector."""
        row.check()
        now = time.time()
        image_id = int(self._conn.execute(_UPSERT, (
            row.path, row.hash, row.size, row.mtime_ns, row.width, row.height, row.status, row.reason,
            row.duplicate_of, now, now)).fetchone()[0])
        if row.status == "indexed":
            if vector is not None:
                self._conn.execute("INSERT OR REPLACE INTO vectors(image_id, vec) VALUES(?, ?)",
                                   (image_id, self._encode(vector)))
                self.vectors_changed = True
            elif self._conn.execute(_UNPARK, (image_id,)).rowcount:  # was missing, found again unchanged
                self.vectors_changed = True
        elif self._conn.execute("DELETE FROM vectors WHERE image_id = ?", (image_id,)).rowcount:
            self.vectors_changed = True
        self._conn.execute("DELETE FROM parked_vectors WHERE image_id = ?", (image_id,))
        return image_id

    def mark_missing(self, ids: Sequence[int]) -> int:
        """Files no longer found: rows stay (labels, clusters), vectors are parked; returns how many rows changed.

        A missing original with a copy still present hands its vector to that copy (see `hand_over`)."""
        now = time.time()
        marked = 0
        for image_id in (int(i) for i in ids):
            if not self._conn.execute("UPDATE images SET missing_since = ? WHERE id = ? AND missing_since IS NULL",
                                      (now, image_id)).rowcount:
                continue
            marked += 1
            self._conn.execute("INSERT OR REPLACE INTO parked_vectors(image_id, vec) SELECT image_id, vec "
                               "FROM vectors WHERE image_id = ?", (image_id,))
            if self._conn.execute("DELETE FROM vectors WHERE image_id = ?", (image_id,)).rowcount:
                self.vectors_changed = True
        self.hand_over()
        return marked

    def restore(self, image_id: int, path: str, size: int, mtime_ns: int) -> None:
        """A missing (or moved) row found again at `path` with the content it had: same id, vector back, nothing
        re-embedded. `path` must not belong to another row."""
        self._conn.execute("UPDATE images SET path = ?, size = ?, mtime_ns = ?, missing_since = NULL, updated_at = ? "
                           "WHERE id = ?", (path, size, mtime_ns, time.time(), int(image_id)))
        if self._conn.execute(_UNPARK, (int(image_id),)).rowcount:
            self.vectors_changed = True
        self._conn.execute("DELETE FROM parked_vectors WHERE image_id = ?", (int(image_id),))

    def hand_over(self) -> int:
        """Missing originals whose copy is present: the copy becomes the indexed row (same vector), the missing row
        one of its copies — so the content stays searchable and a returning file does not index it twice."""
        orphans = [r[0] for r in self._conn.execute(
            "SELECT DISTINCT o.id FROM images o JOIN images d ON d.duplicate_of = o.id WHERE o.status = 'indexed' "
            "AND o.missing_since IS NOT NULL AND d.status = 'duplicate' AND d.missing_since IS NULL")]
        for image_id in orphans:
            heir = self.promote_heir(image_id)
            self._conn.execute("UPDATE images SET status = 'duplicate', duplicate_of = ? WHERE id = ?",
                               (heir, image_id))
            self._conn.execute("DELETE FROM parked_vectors WHERE image_id = ?", (image_id,))
        return len(orphans)

    def put_measures(self, image_id: int, content: str | None, values: np.ndarray, version: int) -> None:
        """Store an image's pixel measures (revsearch/indexing/pixel_measures.py, definition `version`) for the content
        `content` (its hash)."""
        self._conn.execute("INSERT OR REPLACE INTO pixel_measures(image_id, hash, version, vals) VALUES(?, ?, ?, ?)",
                           (int(image_id), content, int(version), np.ascontiguousarray(values, np.float32).tobytes()))

    def has_vector(self, image_id: int) -> bool:
        return self._conn.execute("SELECT 1 FROM vectors WHERE image_id = ?", (int(image_id),)).fetchone() is not None

    def path(self, image_id: int) -> str | None:
        row = self._conn.execute("SELECT path FROM images WHERE id = ?", (int(image_id),)).fetchone()
        return row[0] if row else None

    def promote_heir(self, image_id: int) -> int | None:
        """An indexed original is going away or changing: its first duplicate becomes indexed with the same vector.

        Counts as a change of the vectors (the original's own vector is about to be replaced or removed)."""
        self.vectors_changed = True
        heir = self._conn.execute("SELECT id, missing_since FROM images WHERE duplicate_of = ? "
                                  "AND status = 'duplicate' ORDER BY missing_since IS NOT NULL, id LIMIT 1",
                                  (image_id,)).fetchone()
        if heir is None:
            return None
        table = "vectors" if heir[1] is None else "parked_vectors"  # a missing heir keeps its vector parked
        self._conn.execute(f"INSERT OR REPLACE INTO {table}(image_id, vec) SELECT ?, vec FROM vectors "
                           "WHERE image_id = ? UNION ALL SELECT ?, vec FROM parked_vectors WHERE image_id = ?",
                           (heir[0], image_id, heir[0], image_id))
        self._conn.execute("UPDATE images SET status = 'indexed', duplicate_of = NULL, updated_at = ? WHERE id = ?",
                           (time.time(), heir[0]))
        self._conn.execute("UPDATE images SET duplicate_of = ? WHERE duplicate_of = ?", (heir[0], image_id))
        return int(heir[0])

    def remove(self, ids: Sequence[int]) -> int:
        """Delete rows, promoting a duplicate of each removed indexed original; returns how many rows went."""
        removed = 0
        for image_id in (int(i) for i in ids):
            row = self._conn.execute("SELECT status FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                continue
            if row["status"] == "indexed":
                self.promote_heir(image_id)
            self._conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
            removed += 1
        if removed:
            self.vectors_changed = True
        return removed
