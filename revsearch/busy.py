"""A collection that is being indexed says so, and cannot be deleted under the run.

The marker is an advisory `flock` on `<collection>/.indexing.lock`: an indexing run holds it shared (two runs into
one collection may overlap, SQLite serialises their writes), a delete takes it exclusive without waiting. The kernel
drops a lock when its process dies, so a killed run never leaves a collection stuck as "being indexed"; the file
itself stays behind and means nothing without a lock on it. Locks are per open file, so two threads of one server
(two browser sessions) see each other's runs too.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from revsearch.errors import RevsearchError

LOCK_FILE = ".indexing.lock"


def _open(directory: Path | str) -> int:
    return os.open(Path(directory) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)


@contextmanager
def indexing(directory: Path | str) -> Iterator[None]:
    """Mark the collection in `directory` as being indexed for the duration of the block."""
    fd = _open(directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a delete holds it (a moment)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def is_indexing(directory: Path | str) -> bool:
    """True while some process (this one included) runs `indexing` on the collection."""
    path = Path(directory) / LOCK_FILE
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def exclusive(directory: Path | str, what: str) -> Iterator[None]:
    """Hold the collection against indexing runs while `what` (e.g. deleting it) happens; refuse during a run."""
    fd = _open(directory)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RevsearchError(f"cannot {what}: it is being indexed right now; wait until the run ends") from None
        yield
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "exclusive", "indexing", "is_indexing"]
