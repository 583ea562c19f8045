"""Pairs of images a person said are *not* duplicates of each other (`not_duplicates` table), so the Duplicates page
and `find_duplicates` stop grouping them. A pair is stored once, smaller id first; it goes away with either image.
"""

from __future__ import annotations

import time
from typing import Iterable

from revsearch.collection import catalog
from revsearch.collection.collection import Collection

Pair = tuple[int, int]


def _ordered(pairs: Iterable[Pair]) -> list[Pair]:
    return sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, b in pairs if int(a) != int(b)})


def mark(coll: Collection, pairs: Iterable[Pair]) -> int:
    """Remember each pair as "not a duplicate" in one transaction; returns how many were new."""
    todo = _ordered(pairs)
    now = time.time()
    with coll.transaction() as conn:
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO not_duplicates(a, b, at) SELECT ?, ?, ? WHERE "
                         "(SELECT COUNT(*) FROM images WHERE id IN (?, ?)) = 2",
                         [(a, b, now, a, b) for a, b in todo])
        return conn.total_changes - before


def unmark(coll: Collection, pairs: Iterable[Pair]) -> int:
    """Forget marks (the pairs may be grouped again); returns how many were removed."""
    with coll.transaction() as conn:
        before = conn.total_changes
        conn.executemany("DELETE FROM not_duplicates WHERE a = ? AND b = ?", _ordered(pairs))
        return conn.total_changes - before


def marked(coll: Collection) -> set[Pair]:
    """Every marked pair, (smaller id, larger id)."""
    return {(int(a), int(b)) for a, b in catalog.fetch(coll, "SELECT a, b FROM not_duplicates")}
