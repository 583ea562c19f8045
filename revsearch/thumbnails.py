"""Thumbnail cache inside a collection: `<collection>/thumbs/<hash[:2]>/<hash>-<size>.jpg`, keyed by content hash.

A page of 100 results renders from these small JPEGs without decoding a single original. Keys are content hashes, so
exact copies share one thumbnail and a file changed in place gets a new one. Files are written atomically
(temp + rename), so a crash never leaves a half-written thumbnail that later reads as valid; concurrent writers of
the same thumbnail are harmless (same bytes, last rename wins).

Public API:
    thumbnail(coll, image_id, size=256) -> bytes | None            cached JPEG bytes (made on first use); None if the
                                                                   original is gone or undecodable
    thumbnails(coll, ids, size=256, progress=None, workers=4) -> dict[int, bytes]   many at once, in parallel
    warm(coll, size=256, progress=None, limit=WARM_LIMIT) -> int     make missing thumbnails (the first `limit`); count
    prune(coll) -> int                                              delete thumbnails of content no longer in the
                                                                   collection; how many files went
    thumb_path(coll, content_hash, size) -> Path
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from revsearch import images
from revsearch.collection import Collection
from revsearch.progress import Progress, report

THUMB_DIR = "thumbs"
DEFAULT_SIZE = 256


def thumb_path(coll: Collection, content_hash: str, size: int = DEFAULT_SIZE) -> Path:
    return coll.directory / THUMB_DIR / content_hash[:2] / f"{content_hash}-{int(size)}.jpg"


def _rows(coll: Collection, ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    return {i: (r.path, r.hash) for i, r in coll.rows_by_id(ids).items()}


def _make(path: str, content_hash: str | None, target: Path | None, size: int) -> bytes | None:
    if target is not None:
        try:
            return target.read_bytes()
        except OSError:
            pass
    data = images.thumbnail_bytes(path, size=size)
    if isinstance(data, images.Skip):
        return None
    if target is not None:
        _write_atomic(target, data)
    return data


def _write_atomic(target: Path, data: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".thumb-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # a read-only collection still serves thumbnails, just uncached


def thumbnail(coll: Collection, image_id: int, size: int = DEFAULT_SIZE) -> bytes | None:
    """JPEG bytes of one image's thumbnail (fits in size × size), cached; None when it cannot be made."""
    row = _rows(coll, [image_id]).get(int(image_id))
    if row is None:
        return None
    path, content_hash = row
    return _make(path, content_hash, thumb_path(coll, content_hash, size) if content_hash else None, size)


def thumbnails(coll: Collection, ids: Sequence[int], size: int = DEFAULT_SIZE, progress: Progress | None = None,
               workers: int = 4) -> dict[int, bytes]:
    """Thumbnails of many images: cached ones are read, missing ones made in parallel. Unavailable ids are absent."""
    rows = _rows(coll, ids)
    out: dict[int, bytes] = {}
    todo = []
    for image_id, (path, content_hash) in rows.items():
        target = thumb_path(coll, content_hash, size) if content_hash else None
        if target is not None and target.is_file():
            try:
                out[image_id] = target.read_bytes()
                continue
            except OSError:
                pass
        todo.append((image_id, path, content_hash, target))
    if todo:
        report(progress, 0, len(todo), "making thumbnails")
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [(t[0], pool.submit(_make, t[1], t[2], t[3], size)) for t in todo]
            for done, (image_id, fut) in enumerate(futures, 1):
                data = fut.result()
                if data is not None:
                    out[image_id] = data
                report(progress, done, len(todo), "making thumbnails")
    return out


#: Thumbnails made ahead of time per size; more than a first screenful of every page, far fewer than a big collection.
WARM_LIMIT = 5_000


def warm(coll: Collection, size: int = DEFAULT_SIZE, progress: Progress | None = None, workers: int = 4,
         limit: int | None = WARM_LIMIT) -> int:
    """Make missing thumbnails of indexed and duplicate images, the first `limit` of them by id (None: all); returns
    how many were made (a missing one whose original is gone or undecodable is not made, and not counted).

    The rest are made on demand by `thumbnails()` when a page shows them: at a million images warming all would take
    hours and fill the disk with thumbnails nobody looks at."""
    missing: dict[str, int] = {}
    for r in coll.rows():
        if limit is not None and len(missing) >= limit:
            break
        if r.status != "skipped" and r.hash and r.hash not in missing and not thumb_path(coll, r.hash, size).is_file():
            missing[r.hash] = r.id  # exact copies share one thumbnail
    made = thumbnails(coll, list(missing.values()), size, progress, workers)
    return len(made)


def prune(coll: Collection) -> int:
    """Delete cached thumbnails whose content is no longer in the collection."""
    root = coll.directory / THUMB_DIR
    if not root.is_dir():
        return 0
    live = {r.hash for r in coll.rows() if r.hash}
    removed = 0
    for path in root.glob("*/*.jpg"):
        if path.name.rsplit("-", 1)[0] not in live:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
