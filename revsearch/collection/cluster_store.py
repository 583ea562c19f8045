"""Stored clusters: centroids, names and members (with each member's similarity and the content hash it had).

The k-means itself and the rules for numbering, naming and merging live in revsearch/clusters/; this module only
reads and writes the `clusters` and `cluster_members` tables, each write in one transaction together with the
metadata values the caller passes (so the bookkeeping never disagrees with the rows).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Callable, Mapping, Sequence

import numpy as np

from revsearch.collection import catalog
from revsearch.collection.collection import Collection

MemberRow = tuple[int, int, float, str | None]  # (image id, cluster id, similarity, content hash)


# ---------------------------------------------------------------------------------------------------- reading


def names(coll: Collection) -> dict[int, str | None]:
    """cluster id -> name (None when unnamed), by id; empty when the collection was never clustered."""
    return {int(r[0]): r[1] for r in catalog.fetch(coll, "SELECT id, name FROM clusters ORDER BY id")}


def centroids(coll: Collection) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids int64[k], unit centroids float32[k, dim]) by id."""
    rows = catalog.fetch(coll, "SELECT id, centroid FROM clusters ORDER BY id")
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, coll.dim), np.float32)
    cids = np.array([r[0] for r in rows], dtype=np.int64)
    return cids, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)  # raw or learned width


def member_arrays(coll: Collection, cluster_id: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Members of one cluster (or of all) as arrays — cluster ids int64, image ids int64, similarities float64 — by
    cluster, closest to the centroid first, then by image id: a million members without a Python object each.
    Missing images keep their membership but are not among them."""
    where, params = ("AND m.cluster_id = ? ", (int(cluster_id),)) if cluster_id is not None else ("", ())
    with coll.lock:
        cursor = coll.conn.cursor()
        cursor.row_factory = None  # plain tuples, not sqlite3.Row
        rows = cursor.execute("SELECT m.cluster_id, m.image_id, m.similarity FROM cluster_members m "
                              "JOIN images i ON i.id = m.image_id WHERE i.missing_since IS NULL "
                              f"AND i.status = 'indexed' {where}", params).fetchall()
    table = np.array(rows, dtype=np.float64).reshape(-1, 3)
    cluster, image, sim = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]
    order = np.lexsort((image, -sim, cluster))
    return cluster[order], image[order], sim[order]


def top_members(coll: Collection, cluster_id: int, n: int) -> list[int]:
    """Image ids of the `n` members of one cluster closest to its centroid (present, indexed), through the
    (cluster, similarity) index: a few rows read whatever the cluster's size."""
    return [int(r[0]) for r in catalog.fetch(
        coll, "SELECT m.image_id FROM cluster_members m JOIN images i ON i.id = m.image_id WHERE m.cluster_id = ? "
              "AND i.missing_since IS NULL AND i.status = 'indexed' ORDER BY m.similarity DESC, m.image_id LIMIT ?",
        (int(cluster_id), int(n)))]


def member_ids(coll: Collection, cluster_ids: Sequence[int]) -> list[int]:
    """Image ids of every member of the given clusters."""
    cluster_ids = [int(c) for c in cluster_ids]
    if not cluster_ids:
        return []
    return [int(r[0]) for r in catalog.fetch(
        coll, f"SELECT image_id FROM cluster_members WHERE cluster_id IN ({catalog.marks(cluster_ids)})", cluster_ids)]


_ASSIGNED = ("SELECT m.image_id, m.cluster_id FROM cluster_members m JOIN images i ON i.id = m.image_id "
             "WHERE i.status = 'indexed'")


def assignments(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, int]:
    """image id -> cluster id for every clustered image that is still indexed (or for those among `ids`)."""
    if ids is None:
        return {int(a): int(b) for a, b in catalog.fetch(coll, _ASSIGNED)}
    out: dict[int, int] = {}
    for chunk in catalog.chunks(ids):
        out.update({int(a): int(b) for a, b in catalog.fetch(
            coll, _ASSIGNED + f" AND m.image_id IN ({catalog.marks(chunk)})", chunk)})
    return out


_MEMBER_NAMES = ("SELECT m.image_id, c.name FROM cluster_members m JOIN clusters c ON c.id = m.cluster_id "
                 "WHERE c.name IS NOT NULL")


def member_names(coll: Collection) -> dict[int, str]:
    """image id -> the name of its cluster, for members of named clusters (a recluster carries names by them)."""
    return {int(a): b for a, b in catalog.fetch(coll, _MEMBER_NAMES)}


def unplaced(coll: Collection) -> dict[int, str | None]:
    """id -> hash of indexed images without a cluster, or whose content changed since they were assigned."""
    return {int(r[0]): r[1] for r in catalog.fetch(
        coll, "SELECT i.id, i.hash FROM images i LEFT JOIN cluster_members m ON m.image_id = i.id "
              "WHERE i.status = 'indexed' AND i.missing_since IS NULL "
              "AND (m.image_id IS NULL OR m.hash IS NOT i.hash)")}


def unassigned_count(coll: Collection) -> int:
    """Indexed images without a cluster."""
    return int(catalog.fetch(coll, "SELECT COUNT(*) FROM images i LEFT JOIN cluster_members m ON m.image_id = i.id "
                                   "WHERE i.status = 'indexed' AND i.missing_since IS NULL "
                                   "AND m.image_id IS NULL")[0][0])


# ---------------------------------------------------------------------------------------------------- writing


def replace(coll: Collection, centroids: np.ndarray, rows: Sequence[MemberRow],
            names: Mapping[int, str] | Callable[[dict[int, str]], Mapping[int, str]],
            meta: Mapping[str, object], generation: int | None = None) -> None:
    """Replace the whole clustering: clusters 0 … k-1 with these centroids and names, and these members.

    `names` may be a function of the replaced clustering's `member_names`, read inside the same transaction (so a
    name given meanwhile by another process is carried, not lost); `generation`: refuse (GenerationMoved) when the
    vectors moved since the clustering was computed."""
    now = time.time()
    with coll.transaction(generation) as conn:
        if callable(names):
            names = names({int(a): b for a, b in conn.execute(_MEMBER_NAMES)})
        conn.execute("DELETE FROM cluster_members")
        conn.execute("DELETE FROM clusters")
        conn.executemany("INSERT INTO clusters(id, centroid, name, created_at) VALUES(?, ?, ?, ?)",
                         [(c, np.asarray(centroids[c], np.float32).tobytes(), names.get(c), now)
                          for c in range(len(centroids))])
        _put_members(conn, rows)
        catalog.set_many(conn, meta)


def assign(coll: Collection, rows: Sequence[MemberRow], meta: Mapping[str, object]) -> None:
    """Add or move members; rows that stopped being indexed (became a copy, or skipped) leave their cluster."""
    with coll.transaction() as conn:
        conn.execute("DELETE FROM cluster_members WHERE image_id IN (SELECT id FROM images WHERE status != 'indexed')")
        _put_members(conn, rows)
        catalog.set_many(conn, meta)


def merge(coll: Collection, target: int, others: Sequence[int], centroid: np.ndarray, name: str | None,
          similarities: Sequence[tuple[int, float]]) -> None:
    """Store a merge: `target` gets the centroid, the name and the images of `similarities` (image id, similarity
    to the new centroid) as members; the clusters `others` are dropped."""
    with coll.transaction() as conn:
        conn.execute("UPDATE clusters SET centroid = ?, name = ? WHERE id = ?",
                     (np.asarray(centroid, np.float32).tobytes(), name, int(target)))
        conn.executemany("UPDATE cluster_members SET cluster_id = ?, similarity = ? WHERE image_id = ?",
                         [(int(target), float(s), int(i)) for i, s in similarities])
        others = [int(i) for i in others if int(i) != int(target)]
        conn.execute(f"DELETE FROM clusters WHERE id IN ({catalog.marks(others)})", others)


def _put_members(conn: sqlite3.Connection, rows: Sequence[MemberRow]) -> None:
    conn.executemany("INSERT OR REPLACE INTO cluster_members(image_id, cluster_id, similarity, hash) "
                     "VALUES(?, ?, ?, ?)", [(int(i), int(c), float(s), h) for i, c, s, h in rows])

