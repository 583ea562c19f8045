"""Incremental indexing: bring a collection in line with a folder (or a list of files), embedding only what changed.

A file whose size and mtime match its catalog row is unchanged and not even read. New and changed files are hashed,
decoded and embedded in batches; each batch (rows + vectors) commits in one transaction, so a killed run resumes at
the first uncommitted batch. Identical content is embedded once; later copies are recorded as duplicates.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from revsearch import images
from revsearch.collection.collection import Collection
from revsearch.collection.rows import NewRow, RowWriter
from revsearch.embed.embedder import Embedder
from revsearch.embed.pipeline import Embedded, embed_stream
from revsearch.errors import RevsearchError
from revsearch.files import content_hash, walk_files
from revsearch.progress import Progress, report


@dataclass
class IndexReport:
    """What one indexing run did; the CLI and the app both print it."""

    scanned: int = 0
    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), new this run
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the indexed original)
    seconds: float = 0.0

    @property
    def embedded(self) -> int:
        return self.indexed + self.updated

    @property
    def throughput(self) -> float:
        """Files processed (embedded, skipped or deduplicated) per second of the run."""
        done = self.embedded + len(self.skipped) + len(self.duplicates)
        return done / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "scanned": self.scanned, "indexed": self.indexed, "updated": self.updated, "unchanged": self.unchanged,
            "removed": self.removed, "seconds": round(self.seconds, 3), "images_per_second": round(self.throughput, 2),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "duplicates": [{"path": p, "duplicate_of": o} for p, o in self.duplicates],
        }


Entry = tuple[Path, int, int]  # (path, size, mtime_ns) of a file to (re)index; size -1 when it cannot be stat'ed
#: Where embedded batches come from: given the entries to do and the content hashes already indexed, yield committed-
#: size batches of `Embedded` (loaded facts + vector). In-process by default; `revsearch.distributed` plugs in Ray.
BatchSource = Callable[[list[Entry], frozenset[str]], Iterable[list[Embedded]]]


@dataclass
class Loaded:
    """A file after the decode worker: content facts plus the model input, or why there is none."""

    path: Path
    size: int
    mtime_ns: int
    hash: str | None = None
    width: int | None = None
    height: int | None = None
    array: np.ndarray | None = None
    skip: str | None = None
    known_duplicate: bool = False


def index_folder(coll: Collection, folder: Path | str, embedder: Embedder, progress: Progress | None = None,
                 batch_size: int = 32, source: BatchSource | None = None) -> IndexReport:
    """Sync the collection with everything under `folder`: add new, re-embed changed, drop deleted files."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise RevsearchError(f"folder not found: {root}")
    if not root.is_dir():
        raise RevsearchError(f"not a folder: {root}")
    root = root.resolve()
    started = time.perf_counter()
    report(progress, 0, 0, f"scanning {root}")
    files = walk_files(root)
    prefix = str(root) + os.sep
    present = {str(p) for p in files}
    gone = [r.id for r in coll.rows() if r.path.startswith(prefix) and r.path not in present]
    result = IndexReport()
    if gone:
        result.removed = coll.remove(gone)
    ingest(coll, files, embedder, progress, batch_size, result, source)
    result.seconds = time.perf_counter() - started
    return result


def index_files(coll: Collection, files: Sequence[Path | str], embedder: Embedder, progress: Progress | None = None,
                batch_size: int = 32) -> IndexReport:
    """Add or refresh specific files (uploads) without removing anything else."""
    started = time.perf_counter()
    result = ingest(coll, [Path(f).expanduser().resolve() for f in files], embedder, progress, batch_size,
                    IndexReport())
    result.seconds = time.perf_counter() - started
    return result


def ingest(coll: Collection, files: Sequence[Path], embedder: Embedder, progress: Progress | None,
           batch_size: int, result: IndexReport, source: BatchSource | None = None) -> IndexReport:
    """Embed the new and changed files among `files` into the collection, batch by committed batch."""
    coll.check_model(embedder.name, embedder.fingerprint)
    result.scanned += len(files)
    existing = {r.path: r for r in coll.rows()}
    todo: list[Entry] = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            todo.append((path, -1, -1))  # recorded as skipped by the loader with the OS's reason
            continue
        old = existing.get(str(path))
        if old is not None and (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
            result.unchanged += 1
        else:
            todo.append((path, st.st_size, st.st_mtime_ns))
    known = {r.hash: r.id for r in existing.values() if r.status == "indexed" and r.hash}
    known_before = frozenset(known)
    total = len(todo)
    done = 0
    report(progress, 0, total, f"{total} new or changed files, {result.unchanged} unchanged")

    for batch in (source or local_source(embedder, batch_size))(todo, known_before):
        with coll.batch() as writer:
            for item in batch:
                vector = item.vector
                if vector is None and item.loaded.known_duplicate and item.loaded.hash not in known:
                    vector = _embed_now(item.loaded, embedder)  # its original changed earlier in this run
                _record(writer, item.loaded, vector, existing, known, result)
        done += len(batch)
        report(progress, done, total, str(batch[-1].loaded.path.name))
    return result


def local_source(embedder: Embedder, batch_size: int) -> BatchSource:
    """Decode in this process's threads while the model runs here: the default batch source."""
    def source(todo: list[Entry], known: frozenset[str]) -> Iterable[list[Embedded]]:
        return embed_stream(todo, lambda entry: load_file(entry, embedder, known), embedder, batch_size=batch_size)
    return source


def load_file(entry: Entry, embedder: Embedder, known_hashes: frozenset[str]) -> Loaded:
    """Hash, probe and decode one file in a worker thread; files whose content is already indexed are not decoded."""
    path, size, mtime_ns = entry
    loaded = Loaded(path, size, mtime_ns)
    if size < 0:
        loaded.skip = "unreadable (cannot stat the file)"
        return loaded
    try:
        loaded.hash = content_hash(path)
    except OSError as exc:
        loaded.skip = f"unreadable: {exc.strerror or exc}"
        return loaded
    if loaded.hash in known_hashes:
        loaded.known_duplicate = True
        return loaded
    dims = images.probe(path)
    if isinstance(dims, images.Skip):
        loaded.skip = dims.reason
        return loaded
    loaded.width, loaded.height = dims
    img = images.load_image(path, target=embedder.input_size)
    if isinstance(img, images.Skip):
        loaded.skip = img.reason
        return loaded
    loaded.array = embedder.prepare(img)
    return loaded


def _embed_now(loaded: Loaded, embedder: Embedder) -> np.ndarray | None:
    """Decode and embed one file that was skipped as a duplicate of content which no longer exists."""
    fresh = load_file((loaded.path, loaded.size, loaded.mtime_ns), embedder, frozenset())
    loaded.skip, loaded.width, loaded.height, loaded.known_duplicate = fresh.skip, fresh.width, fresh.height, False
    return None if fresh.array is None else embedder.embed_batch(fresh.array[None])[0]


def _record(writer: RowWriter, loaded: Loaded, vector: np.ndarray | None, existing: dict, known: dict[str, int],
            result: IndexReport) -> None:
    """Write one file's outcome inside the batch transaction (the writer notes whether vectors changed)."""
    path = str(loaded.path)
    old = existing.get(path)
    if old is not None and old.status == "indexed" and old.hash != loaded.hash:
        heir = writer.promote_heir(old.id)  # its copies keep the old content's vector
        if heir is None:
            known.pop(old.hash, None)
        else:
            known[old.hash] = heir
    if loaded.skip is not None:
        status, reason, dup_of = "skipped", loaded.skip, None
    elif loaded.hash in known and known[loaded.hash] != (old.id if old else None):
        status, reason, dup_of = "duplicate", None, known[loaded.hash]
    else:
        status, reason, dup_of = "indexed", None, None
    row = NewRow(path, loaded.hash, loaded.size, loaded.mtime_ns, loaded.width, loaded.height, status, reason, dup_of)
    image_id = writer.upsert(row, vector if status == "indexed" else None)
    if status == "indexed":
        if vector is None:  # same content already indexed under this very row (e.g. touched file)
            result.unchanged += 1
            return
        known[loaded.hash] = image_id
        if old is None:
            result.indexed += 1
        else:
            result.updated += 1
    elif status == "skipped":
        result.skipped.append((path, reason))
    else:
        result.duplicates.append((path, writer.path(dup_of) or ""))
