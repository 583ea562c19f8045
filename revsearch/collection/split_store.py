"""Train / val / test splits kept in the collection (`splits` table; settings in the metadata), read as arrays.

One row per image that has a split: the split's name, the near-copy group it was assigned with (`grp`, the smallest
id of the group) and the content hash it had then. The rules (grouping, balance, stability) live in
revsearch/splits.py; this module only reads and writes, in single transactions.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from revsearch.collection import catalog
from revsearch.collection.collection import Collection

META_SETTINGS = "split_settings"
META_VERSION = "split_version"
# images a dataset is made of: indexed ones and exact copies, with their file present
_PRESENT = "i.status IN ('indexed', 'duplicate') AND i.missing_since IS NULL"


@dataclass(frozen=True)
class Nodes:
    """Every present indexed image and exact copy, in id order, with what splitting needs to know about it."""

    ids: np.ndarray  # int64
    hashes: list[str | None]
    duplicate_of: np.ndarray  # int64, -1 when not an exact copy
    labels: list[str | None]
    excluded: np.ndarray  # bool: left out of exports
    split: list[str | None]  # stored split, None when it has none
    grp: np.ndarray  # int64 stored group, -1 when it has no split
    stale: np.ndarray  # bool: stored with another content hash (the file changed in place)


def nodes(coll: Collection) -> Nodes:
    """One read of every present image with its label, exclusion and stored split."""
    rows = catalog.fetch(coll, "SELECT i.id, i.hash, i.duplicate_of, l.label, e.image_id IS NOT NULL, s.split, "
                               "s.grp, s.hash FROM images i LEFT JOIN labels l ON l.image_id = i.id "
                               "LEFT JOIN exclusions e ON e.image_id = i.id LEFT JOIN splits s ON s.image_id = i.id "
                               f"WHERE {_PRESENT} ORDER BY i.id")
    n = len(rows)
    columns = list(zip(*rows)) if n else [()] * 8
    return Nodes(ids=np.fromiter(columns[0], np.int64, n), hashes=list(columns[1]),
                 duplicate_of=np.fromiter((-1 if d is None else d for d in columns[2]), np.int64, n),
                 labels=list(columns[3]), excluded=np.fromiter(columns[4], bool, n), split=list(columns[5]),
                 grp=np.fromiter((-1 if g is None else g for g in columns[6]), np.int64, n),
                 stale=np.fromiter((s is not None and h != sh for s, h, sh in zip(columns[5], columns[1], columns[7])),
                                   bool, n))


def settings(coll: Collection) -> dict | None:
    """The stored split settings (names, ratios, seed, threshold, at), or None when the collection has no split."""
    value = coll.meta(META_SETTINGS)
    return json.loads(value) if value else None


def version(coll: Collection) -> str:
    """Moves on every write here (caches of split counts compare it)."""
    return coll.meta(META_VERSION) or "0"


def save(coll: Collection, rows: Sequence[tuple[int, str, int, str | None]], settings_: dict,
         replace: bool) -> None:
    """Write (image id, split, group, hash) rows and the settings in one transaction; `replace` drops every stored
    split first (a re-split), otherwise rows are upserted (new images, and groups that joined)."""
    now = time.time()
    with coll.transaction() as conn:
        if replace:
            conn.execute("DELETE FROM splits")
        conn.executemany("INSERT INTO splits(image_id, split, grp, hash, assigned_at) VALUES(?, ?, ?, ?, ?) "
                         "ON CONFLICT(image_id) DO UPDATE SET split = excluded.split, grp = excluded.grp, "
                         "hash = excluded.hash, assigned_at = CASE WHEN splits.split = excluded.split "
                         "THEN splits.assigned_at ELSE excluded.assigned_at END",
                         [(int(i), s, int(g), h, now) for i, s, g, h in rows])
        catalog.set_meta(conn, META_SETTINGS, json.dumps(settings_))
        _bump(conn)


def remove(coll: Collection) -> int:
    """Forget every split (exports go back to the flat layout); returns how many images had one."""
    with coll.transaction() as conn:
        n = conn.execute("DELETE FROM splits").rowcount
        conn.execute("DELETE FROM meta WHERE key = ?", (META_SETTINGS,))
        _bump(conn)
        return int(n)


def splits_of(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, str]:
    """image id -> split (of every image that has one, or of those among `ids`)."""
    if ids is None:
        return {int(i): s for i, s in catalog.fetch(coll, "SELECT image_id, split FROM splits")}
    out: dict[int, str] = {}
    for chunk in catalog.chunks(ids):
        out.update({int(i): s for i, s in catalog.fetch(
            coll, f"SELECT image_id, split FROM splits WHERE image_id IN ({catalog.marks(chunk)})", chunk)})
    return out


def counts(coll: Collection) -> dict[tuple[str | None, str | None], int]:
    """(split or None, label or None) -> images, over present images not excluded (None split: not assigned yet)."""
    rows = catalog.fetch(coll, "SELECT s.split, l.label, COUNT(*) FROM images i LEFT JOIN splits s ON s.image_id = "
                               "i.id LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN exclusions e ON e.image_id = "
                               f"i.id WHERE {_PRESENT} AND e.image_id IS NULL GROUP BY s.split, l.label")
    return {(s, label): int(n) for s, label, n in rows}


def unassigned(coll: Collection) -> int:
    """Present images, not excluded, without a split or stored with another content hash (changed in place)."""
    return int(catalog.fetch(coll, "SELECT COUNT(*) FROM images i LEFT JOIN splits s ON s.image_id = i.id "
                                   "LEFT JOIN exclusions e ON e.image_id = i.id WHERE "
                                   f"{_PRESENT} AND e.image_id IS NULL AND (s.image_id IS NULL OR s.hash IS NOT i.hash)"
                             )[0][0])


def crossings(coll: Collection) -> dict[str, int]:
    """Stored groups and content hashes whose present, exported images hold more than one split: leaks."""
    scope = ("FROM splits s JOIN images i ON i.id = s.image_id LEFT JOIN exclusions e ON e.image_id = i.id "
             f"WHERE {_PRESENT} AND e.image_id IS NULL")
    groups = catalog.fetch(coll, f"SELECT COUNT(*) FROM (SELECT s.grp {scope} GROUP BY s.grp "
                                 "HAVING COUNT(DISTINCT s.split) > 1)")[0][0]
    hashes = catalog.fetch(coll, f"SELECT COUNT(*) FROM (SELECT i.hash {scope} AND i.hash IS NOT NULL "
                                 "GROUP BY i.hash HAVING COUNT(DISTINCT s.split) > 1)")[0][0]
    return {"groups_across_splits": int(groups), "same_content_across_splits": int(hashes)}


def _bump(conn: sqlite3.Connection) -> None:
    catalog.set_meta(conn, META_VERSION, int(catalog.get_meta(conn, META_VERSION) or 0) + 1)
