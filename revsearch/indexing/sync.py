"""Incremental indexing: bring a collection in line with a folder (or a list of files), embedding only what changed.

A file whose size and mtime match its catalog row is unchanged and not even read. New and changed files are hashed,
decoded and embedded in batches; each batch (rows + vectors) commits in one transaction, so a killed run resumes at
the first uncommitted batch. Identical content is embedded once; later copies are recorded as duplicates.

Nothing a person made is lost to a sync: a file no longer found is marked missing (its row, labels and clusters stay;
it leaves search), and comes back as it was when found again — at its path, or, moved or renamed, as a new file with
the same content (same id, not decoded, not re-embedded). Only `prune` deletes missing rows.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from revsearch import images
from revsearch.collection.collection import Collection
from revsearch.collection.rows import ImageRow, NewRow, RowWriter
from revsearch.embed.embedder import Embedder
from revsearch.indexing.pipeline import Embedded, embed_stream
from revsearch.embed.views import Prepared
from revsearch.files import Walk, content_hash, existing_folder, walk
from revsearch.indexing import pixel_measures
from revsearch.indexing.pairing import paired
from revsearch.progress import Progress, report


@dataclass
class IndexReport:
    """What one indexing run did; the CLI and the app both print it."""

    scanned: int = 0
    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0  # missing rows deleted for good (`prune`)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), new this run
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, path of the indexed original)
    seconds: float = 0.0
    missing: int = 0  # files marked missing by this run (rows kept)
    restored: int = 0  # missing files found again at their own path
    moves: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path): same content, same row
    warnings: list[str] = field(default_factory=list)  # folders empty or unreadable, prune refused, …

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
            "missing": self.missing, "restored": self.restored, "moved": len(self.moves),
            "moves": [{"from": a, "to": b} for a, b in self.moves], "warnings": self.warnings,
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
    prepared: Prepared | None = None
    skip: str | None = None
    known_duplicate: bool = False
    measures: np.ndarray | None = None  # pixel quality measures of the decoded image (pixel_measures.py)


def index_folder(coll: Collection, folder: Path | str, embedder: Embedder, progress: Progress | None = None,
                 batch_size: int = 32, prune: bool = False, source: BatchSource | None = None,
                 keep: Callable[[Path], bool] | None = None) -> IndexReport:
    """Sync the collection with everything under `folder`: add new, re-embed changed, mark files not found missing,
    re-link moved ones; `prune` then deletes the rows under `folder` still missing (never when `folder` looks
    unplugged: empty or unreadable). Files `keep` refuses (links out of the allowed folders) count as not found."""
    root = existing_folder(folder)
    started = time.perf_counter()
    report(progress, 0, 0, f"scanning {root}")
    walked = walk(root)
    result = IndexReport()
    if keep is not None and (refused := [p for p in walked.files if not keep(p)]):
        walked.files = [p for p in walked.files if keep(p)]
        result.warnings.append(f"{len(refused)} linked files point outside the allowed folders: not indexed")
    unplugged, gone = _mark_missing(coll, root, walked, result)
    ingest(coll, walked.files, embedder, progress, batch_size, result, source)
    result.missing -= sum(1 for old, _ in result.moves if old in gone)  # moved within the folder: not missing
    if prune and unplugged:
        result.warnings.append(f"{root} is empty or unreadable: nothing pruned")
    elif prune:
        result.removed = coll.prune(str(root) + os.sep)
    result.seconds = time.perf_counter() - started
    return result


def _mark_missing(coll: Collection, root: Path, walked: Walk, result: IndexReport) -> tuple[bool, set[str]]:
    """Mark rows under `root` whose file was not found as missing, with a warning for a folder that is empty or
    could not be listed. Returns whether `root` itself looks unplugged (empty or unreadable while rows are under
    it), and the paths marked."""
    prefix = str(root) + os.sep
    present = {str(p) for p in walked.files}
    under = [r for r in coll.rows() if r.path.startswith(prefix)]
    gone = [r for r in under if r.path not in present and not r.missing]
    if gone:
        result.missing = coll.mark_missing([r.id for r in gone])
    for folder, why in walked.unlistable:
        if folder != root:
            inside = sum(1 for r in under if r.path.startswith(str(folder) + os.sep))
            result.warnings.append(f"cannot list {folder} ({why}): {inside} files under it marked missing, "
                                   "nothing deleted")
    if walked.files or not under:
        return False, {r.path for r in gone}
    reason = next((why for folder, why in walked.unlistable if folder == root), None)
    state = f"unreadable ({reason})" if reason else "empty or unreadable"
    result.warnings.append(f"{root} is {state}: {len(under)} files marked missing, nothing deleted")
    return True, {r.path for r in gone}


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
    """Embed the new and changed files among `files` into the collection, batch by committed batch, with the
    collection's own input handling and precision (a `source` embeds with `embedder`'s, which must then be the
    collection's)."""
    embedder = paired(coll, embedder, same_input=source is not None)
    result.scanned += len(files)
    state = _State({r.path: r for r in coll.rows()})
    todo: list[Entry] = []
    back: list[tuple[ImageRow, int, int]] = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            todo.append((path, -1, -1))  # recorded as skipped by the loader with the OS's reason
            continue
        old = state.existing.get(str(path))
        if old is not None and (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
            if old.missing:
                back.append((old, st.st_size, st.st_mtime_ns))
            else:
                result.unchanged += 1
        else:
            todo.append((path, st.st_size, st.st_mtime_ns))
    if back:  # missing files found again where they were, unchanged: one short write, nothing read
        with coll.batch() as writer:
            for old, size, mtime_ns in back:
                writer.restore(old.id, old.path, size, mtime_ns)
                state.found(old)
        result.restored += len(back)
    known_before = frozenset(state.known) | frozenset(state.missing)
    total = len(todo)
    done = 0
    report(progress, 0, total, f"{total} new or changed files, {result.unchanged} unchanged")

    for batch in (source or local_source(embedder, batch_size))(todo, known_before):
        with coll.batch() as writer:
            for item in batch:
                vector = item.vector
                if vector is None and item.loaded.known_duplicate and not state.has_vector(item.loaded.hash):
                    vector = _embed_now(item.loaded, embedder)  # its original changed earlier in this run
                _record(writer, item.loaded, vector, state, result)
        done += len(batch)
        report(progress, done, total, str(batch[-1].loaded.path.name))
    with coll.batch() as writer:
        writer.hand_over()  # copies found again whose original is still missing take its place in search
    return result


class _State:
    """What a sync knows while it runs: rows by path, present indexed content by hash, missing rows by hash."""

    def __init__(self, existing: dict[str, ImageRow]) -> None:
        self.existing = existing
        self.by_id = {r.id: r for r in existing.values()}
        self.known = {r.hash: r.id for r in existing.values() if r.status == "indexed" and r.hash and not r.missing}
        self.missing: dict[str, list[ImageRow]] = {}
        for r in existing.values():
            if r.missing and r.hash and r.status != "skipped":
                self.missing.setdefault(r.hash, []).append(r)

    def has_vector(self, content: str | None) -> bool:
        """Whether some row holds a vector of this content (present, or parked with a missing row)."""
        return content in self.known or any(r.status == "indexed" for r in self.missing.get(content or "", []))

    def found(self, row: ImageRow) -> None:
        """`row` is present again (its path may have changed): it stops being a candidate for moves."""
        rows = self.missing.get(row.hash or "", [])
        if row in rows:
            rows.remove(row)
        if row.status == "indexed" and row.hash:
            self.known[row.hash] = row.id

    def moved_from(self, path: Path, content: str | None) -> ImageRow | None:
        """The row a new file at `path` with this content continues: a missing row with the same content (same
        name first, originals before copies), else the indexed row of that content when its own file is gone."""
        if content is None:
            return None
        candidates = self.missing.get(content)
        if candidates:
            return min(candidates, key=lambda r: (Path(r.path).name != path.name, r.status != "indexed", r.id))
        owner = self.by_id.get(self.known.get(content, -1))
        if owner is not None and not os.path.lexists(owner.path):
            return owner
        return None

    def relink(self, row: ImageRow, path: str) -> None:
        self.existing.pop(row.path, None)
        moved = replace(row, path=path, missing_since=None)
        self.existing[path] = self.by_id[row.id] = moved
        self.found(row)


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
    loaded.measures = pixel_measures.measure(img)  # the pixels are in memory now; the audit needs them later
    loaded.prepared = embedder.prepare(img)
    return loaded


def _embed_now(loaded: Loaded, embedder: Embedder) -> np.ndarray | None:
    """Decode and embed one file that was skipped as a duplicate of content which no longer exists."""
    fresh = load_file((loaded.path, loaded.size, loaded.mtime_ns), embedder, frozenset())
    loaded.skip, loaded.width, loaded.height, loaded.known_duplicate = fresh.skip, fresh.width, fresh.height, False
    loaded.measures = fresh.measures
    return None if fresh.prepared is None else embedder.embed_prepared([fresh.prepared])[0]


def _record(writer: RowWriter, loaded: Loaded, vector: np.ndarray | None, state: _State,
            result: IndexReport) -> None:
    """Write one file's outcome inside the batch transaction (the writer notes whether vectors changed)."""
    path = str(loaded.path)
    old = state.existing.get(path)
    if old is None and loaded.skip is None and vector is None:
        source = state.moved_from(loaded.path, loaded.hash)
        if source is not None:  # moved or renamed: same row, same vector, labels and clusters kept
            writer.restore(source.id, path, loaded.size, loaded.mtime_ns)
            result.moves.append((source.path, path))
            state.relink(source, path)
            return
    known = state.known
    if old is not None and old.status == "indexed" and old.hash != loaded.hash:
        heir = writer.promote_heir(old.id)  # its copies keep the old content's vector
        if heir is None:
            known.pop(old.hash, None)
        else:
            known[old.hash] = heir
    if old is not None and old.missing:
        state.found(old)
    if loaded.skip is not None:
        status, reason, dup_of = "skipped", loaded.skip, None
    elif loaded.hash in known and known[loaded.hash] != (old.id if old else None):
        status, reason, dup_of = "duplicate", None, known[loaded.hash]
    else:
        status, reason, dup_of = "indexed", None, None
    row = NewRow(path, loaded.hash, loaded.size, loaded.mtime_ns, loaded.width, loaded.height, status, reason, dup_of)
    image_id = writer.upsert(row, vector if status == "indexed" else None)
    if status == "indexed" and loaded.measures is not None:
        writer.put_measures(image_id, loaded.hash, loaded.measures, pixel_measures.VERSION)
    if status == "indexed":
        if vector is None:  # same content already indexed under this very row (e.g. touched file)
            if old is not None and old.missing:
                result.restored += 1
            else:
                result.unchanged += 1
            known[loaded.hash] = image_id
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
