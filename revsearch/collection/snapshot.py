"""A consistent, streamed view of a collection's vectors on a connection of its own.

A build of the index or a k-means assignment over a million vectors must neither hold every vector in RAM nor hold
the collection's lock (the app's other tabs would stall). A snapshot opens a second SQLite connection and one read
transaction: WAL gives it the catalog as of its first read, while writers go on committing on the main connection.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterator

import numpy as np

from revsearch.collection import catalog


class VectorSnapshot:
    """Use as a context manager; `generation` and every read come from the same committed state."""

    def __init__(self, path: Path, dim: int, dtype: np.dtype) -> None:
        self._conn = catalog.connect(path)
        self._conn.execute("BEGIN")
        self.generation = int(catalog.get_meta(self._conn, "generation") or 0)  # the first read fixes the snapshot
        self.dim, self.dtype = dim, np.dtype(dtype)
        self._ids: np.ndarray | None = None

    def __enter__(self) -> "VectorSnapshot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            pass
        self._conn.close()

    def ids(self) -> np.ndarray:
        """Ids of every stored vector, ascending (8 bytes each: 8 MB at a million)."""
        if self._ids is None:
            cursor = self._conn.cursor()
            cursor.row_factory = None  # plain tuples, not sqlite3.Row
            rows = cursor.execute("SELECT image_id FROM vectors ORDER BY image_id").fetchall()
            self._ids = np.array(rows, dtype=np.int64).reshape(-1)
        return self._ids

    def updated_since(self, when: float) -> np.ndarray:
        """Ids of stored vectors whose row changed at or after `when` (wall clock)."""
        return np.fromiter((r[0] for r in self._conn.execute(
            "SELECT v.image_id FROM vectors v JOIN images i ON i.id = v.image_id WHERE i.updated_at >= ?",
            (when,))), dtype=np.int64)

    @property
    def n(self) -> int:
        return len(self.ids())

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) chunks of at most `size` rows in id order: one streamed scan of the table."""
        cursor = self._conn.execute("SELECT image_id, vec FROM vectors ORDER BY image_id")
        while rows := cursor.fetchmany(size):
            yield self._decode(rows)

    def vectors_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, vectors) for the given ids, in id order."""
        out_ids, out = [], []
        for chunk in catalog.chunks(np.unique(np.asarray(ids, dtype=np.int64)).tolist()):
            rows = self._conn.execute(f"SELECT image_id, vec FROM vectors WHERE image_id IN ({catalog.marks(chunk)}) "
                                      f"ORDER BY image_id", chunk).fetchall()
            if rows:
                found, vecs = self._decode(rows)
                out_ids.append(found)
                out.append(vecs)
        if not out:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate(out_ids), np.concatenate(out)

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Vectors of `count` ids drawn at random (all of them when there are fewer)."""
        ids = self.ids()
        chosen = ids if count >= len(ids) else ids[np.sort(rng.choice(len(ids), size=count, replace=False))]
        return self.vectors_of(chosen)[1]

    def _decode(self, rows: list) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=self.dtype).reshape(len(rows), self.dim)
        return ids, vecs.astype(np.float32)
