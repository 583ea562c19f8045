"""Pairs of images a person said are *not* duplicates of each other (`not_duplicates` table), so the Duplicates page
and `find_duplicates` stop grouping them. A pair is stored once, smaller id first; it goes away with either image.

Also the last near-duplicate scan's similar pairs (`<collection>/duplicate-scan.npz`: plain arrays, written atomically,
read without pickle), with the generation and threshold they were found at: comparing a million images takes
minutes, so its result outlives the process that computed it.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from revsearch.collection import catalog
from revsearch.collection.collection import Collection
from revsearch.safe_write import atomic_output

Pair = tuple[int, int]
SCAN_FILE = "duplicate-scan.npz"
SCAN_FORMAT = 1


@dataclass(frozen=True)
class Scan:
    """Pairs (a < b) of indexed images at least `threshold` similar, as of `generation`."""

    generation: int
    threshold: float
    a: np.ndarray  # int64
    b: np.ndarray  # int64
    score: np.ndarray  # float32
    seconds: float
    at: float


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


def marked(coll: Collection) -> set[Pair]:
    """Every marked pair, (smaller id, larger id)."""
    return {(int(a), int(b)) for a, b in catalog.fetch(coll, "SELECT a, b FROM not_duplicates")}


def save_scan(coll: Collection, scan: Scan) -> None:
    """Keep a scan's pairs (replacing the previous scan), atomically."""
    with atomic_output(coll.directory / SCAN_FILE, force=True, mode="wb") as fh:
        np.savez(fh, format=np.int64(SCAN_FORMAT), generation=np.int64(scan.generation),
                 threshold=np.float64(scan.threshold), seconds=np.float64(scan.seconds), at=np.float64(scan.at),
                 a=np.asarray(scan.a, np.int64), b=np.asarray(scan.b, np.int64),
                 score=np.asarray(scan.score, np.float32))


def forget_scan(coll: Collection) -> None:
    """Drop the kept scan (if any): the next comparison starts from nothing."""
    (coll.directory / SCAN_FILE).unlink(missing_ok=True)


def scan_key(coll: Collection) -> tuple[int, float] | None:
    """(generation, threshold) of the kept scan, read without its pairs; None when there is none to read."""
    scan = _read(coll, pairs=False)
    return None if scan is None else (scan.generation, scan.threshold)


def load_scan(coll: Collection) -> Scan | None:
    """The last scan kept, or None (never scanned, or a file this version cannot read)."""
    return _read(coll, pairs=True)


def _read(coll: Collection, pairs: bool) -> Scan | None:
    try:
        with np.load(coll.directory / SCAN_FILE, allow_pickle=False) as z:  # members are read only when asked for
            if int(z["format"]) != SCAN_FORMAT:
                return None
            empty = np.zeros(0, np.int64)
            return Scan(int(z["generation"]), float(z["threshold"]), z["a"] if pairs else empty,
                        z["b"] if pairs else empty, z["score"] if pairs else empty.astype(np.float32),
                        float(z["seconds"]), float(z["at"]))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # absent, damaged or foreign: none
        return None
