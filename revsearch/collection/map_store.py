"""Stored 2-D map positions (`projection` table): one point per indexed image, with the content hash it was placed
for and whether it took part in the last fit. How points are computed lives in revsearch/projection.py.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Mapping, Sequence

from revsearch.collection import catalog
from revsearch.collection.collection import Collection

PointRow = tuple[int, float, float, str | None]  # (image id, x, y, content hash)


@dataclass(frozen=True)
class StoredPoint:
    """One point of the map with its image's path, cluster id and label (also what `projection.map_points` returns)."""

    id: int
    path: str
    x: float
    y: float
    cluster: int | None
    label: str | None

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "x": round(self.x, 5), "y": round(self.y, 5),
                "cluster": self.cluster, "label": self.label}


def count(coll: Collection) -> int:
    return int(catalog.fetch(coll, "SELECT COUNT(*) FROM projection")[0][0])


def stored(coll: Collection) -> dict[int, tuple[str | None, bool]]:
    """image id -> (content hash it was placed for, took part in the fit)."""
    return {int(r[0]): (r[1], bool(r[2])) for r in catalog.fetch(coll, "SELECT image_id, hash, fitted FROM projection")}


_POINTS = ("SELECT p.image_id, i.path, p.x, p.y, m.cluster_id, l.label FROM projection p "
           "JOIN images i ON i.id = p.image_id "
           "LEFT JOIN cluster_members m ON m.image_id = p.image_id "
           "LEFT JOIN labels l ON l.image_id = p.image_id "
           "WHERE i.missing_since IS NULL")
# a multiplicative hash of the image id (Knuth): a seeded order that is the same on every call and spread over the map
_SPREAD = "((p.image_id + ?) * 2654435761) % 4294967296"


def points(coll: Collection) -> list[StoredPoint]:
    """Every point with its image's path, cluster id and label, by image id (missing images are not shown)."""
    return _stored(catalog.fetch(coll, _POINTS + " ORDER BY p.image_id"))


def positions(coll: Collection, ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """image id -> stored (x, y), for those of `ids` on the map."""
    out: dict[int, tuple[float, float]] = {}
    for chunk in catalog.chunks(sorted({int(i) for i in ids})):
        rows = catalog.fetch(coll, f"SELECT image_id, x, y FROM projection WHERE image_id IN "
                                   f"({catalog.marks(chunk)})", tuple(chunk))
        out.update({int(r[0]): (float(r[1]), float(r[2])) for r in rows})
    return out


def count_shown(coll: Collection) -> int:
    """How many points `points` returns (missing images are not shown)."""
    return int(catalog.fetch(coll, "SELECT COUNT(*) FROM projection p JOIN images i ON i.id = p.image_id "
                                   "WHERE i.missing_since IS NULL")[0][0])


def sample(coll: Collection, limit: int, include: Sequence[int] = (), seed: int = 0) -> list[StoredPoint]:
    """At most `limit` points, a seeded sample that stays the same between calls (so a large map does not jump),
    plus the points of `include` (a query's results, a selection) wherever they are; by image id."""
    rows = catalog.fetch(coll, _POINTS + f" ORDER BY {_SPREAD} LIMIT ?", (int(seed), int(limit)))
    have = {int(r[0]) for r in rows}
    for chunk in catalog.chunks(sorted({int(i) for i in include} - have)):
        rows += catalog.fetch(coll, _POINTS + f" AND p.image_id IN ({','.join('?' * len(chunk))})", tuple(chunk))
    return sorted(_stored(rows), key=lambda p: p.id)


def _stored(rows: Sequence[tuple]) -> list[StoredPoint]:
    return [StoredPoint(int(r[0]), r[1], float(r[2]), float(r[3]), None if r[4] is None else int(r[4]), r[5])
            for r in rows]


def replace(coll: Collection, rows: Sequence[PointRow], meta: Mapping[str, object],
            generation: int | None = None) -> None:
    """A new fit: these points (all fitted) replace the whole map, with the map's metadata, in one transaction
    (refused with GenerationMoved when the vectors are no longer those of `generation`)."""
    with coll.transaction(generation) as conn:
        conn.execute("DELETE FROM projection")
        _insert(conn, rows, fitted=True)
        catalog.set_many(conn, meta)


def place(coll: Collection, rows: Sequence[PointRow], stale: Sequence[int], meta: Mapping[str, object],
          generation: int | None = None) -> None:
    """Add points placed into an existing fit and drop `stale` ones, in one transaction (refused like `replace`)."""
    with coll.transaction(generation) as conn:
        conn.executemany("DELETE FROM projection WHERE image_id = ?", [(int(i),) for i in stale])
        _insert(conn, rows, fitted=False)
        catalog.set_many(conn, meta)


def _insert(conn: sqlite3.Connection, rows: Sequence[PointRow], fitted: bool) -> None:
    conn.executemany("INSERT OR REPLACE INTO projection(image_id, x, y, hash, fitted) VALUES(?, ?, ?, ?, ?)",
                     [(int(i), float(x), float(y), h, int(fitted)) for i, x, y, h in rows])

