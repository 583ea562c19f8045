"""Cheap reads of a large catalog: a uniform sample of the indexed images, their ids, images per folder, and the rows
of given paths or content — each without turning a million rows into Python objects (pages of the app and streamed
ingests call them on collections of any size)."""

from __future__ import annotations

import os

import numpy as np

from revsearch.collection import catalog
from revsearch.collection.collection import Collection
from revsearch.collection.rows import ImageRow


def sample_indexed(coll: Collection, count: int, rng: np.random.Generator) -> np.ndarray:
    """Ids of `count` present indexed images (all when fewer) drawn uniformly without replacement, in draw order:
    random ids of the id range looked up in the catalog — a few small reads at any size — or, when the range
    is sparse, a draw among all their ids."""
    with coll.lock:
        lo, hi = coll.conn.execute("SELECT MIN(id), MAX(id) FROM images").fetchone()
        n = coll.counts()["indexed"]
        if lo is not None and count < n and 2 * n >= hi - lo + 1:
            span = hi - lo + 1
            drawn = lo + rng.choice(span, size=min(span, int(count * span / n * 1.3) + 64), replace=False)
            found: list[int] = []
            for chunk in catalog.chunks(drawn.tolist()):
                found += [r[0] for r in coll.conn.execute(
                    f"SELECT id FROM images WHERE id IN ({catalog.marks(chunk)}) AND status = 'indexed' "
                    "AND missing_since IS NULL", chunk)]
            picked = drawn[np.isin(drawn, np.array(found, dtype=np.int64))]
            if len(picked) >= count:
                return picked[:count]
        return rng.permutation(indexed_ids(coll))[:count]


def indexed_ids(coll: Collection) -> np.ndarray:
    """Ids (int64, ascending) of the present indexed images — those `coll.vectors()` holds — read from the status
    index alone (no scan of the vectors)."""
    with coll.lock:
        cursor = coll.conn.cursor()
        cursor.row_factory = None  # plain tuples, not sqlite3.Row
        ids = np.array(cursor.execute("SELECT id FROM images INDEXED BY images_status WHERE status = 'indexed' "
                                      "ORDER BY id").fetchall(), dtype=np.int64).reshape(-1)
        gone = np.array(cursor.execute("SELECT id FROM images INDEXED BY images_missing "
                                       "WHERE missing_since IS NOT NULL").fetchall(), dtype=np.int64).reshape(-1)
    return ids[~np.isin(ids, gone)] if len(gone) else ids


def folder_counts(coll: Collection) -> dict[str, int]:
    """Folder -> how many present indexed images it holds directly: grouped in SQL (the folder is the path with
    its last component trimmed), so a million paths never become Python objects."""
    sep = os.sep
    with coll.lock:
        rows = coll.conn.execute("SELECT rtrim(path, replace(path, ?, '')) AS folder, COUNT(*) FROM images "
                                 "WHERE status = 'indexed' AND missing_since IS NULL GROUP BY folder",
                                 (sep,)).fetchall()
    return {(f[:-1] if len(f) > 1 else f): int(n) for f, n in rows}


def rows_at(coll: Collection, paths: list[str]) -> dict[str, ImageRow]:
    """Path -> row of those `paths` the catalog holds (missing files included): indexed lookups, a batch at a time."""
    out: dict[str, ImageRow] = {}
    with coll.lock:
        for start in range(0, len(paths), 900):
            chunk = paths[start : start + 900]
            for r in coll.conn.execute(f"SELECT * FROM images WHERE path IN ({catalog.marks(chunk)})", chunk):
                out[r["path"]] = ImageRow.from_sql(r)
    return out


def indexed_with_hash(coll: Collection, hashes: list[str]) -> dict[str, int]:
    """Content hash -> id of the indexed row holding that content (the latest one, should several), for `hashes`."""
    out: dict[str, int] = {}
    with coll.lock:
        for start in range(0, len(hashes), 900):
            chunk = hashes[start : start + 900]
            out.update(coll.conn.execute(f"SELECT hash, id FROM images WHERE hash IN ({catalog.marks(chunk)}) AND "
                                         "status = 'indexed' ORDER BY id", chunk).fetchall())
    return out
