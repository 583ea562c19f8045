"""Bring embedding shards into a collection: incremental (rows already there are not re-added), resumable (each
row group commits in one transaction), and refusing vectors from another model, input handling or precision."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from revsearch.collection import Collection, ImageRow, NewRow, sampling
from revsearch.distributed.shards import ShardRow, read_shard, shard_model
from revsearch.embed.models import file_fingerprint, model_entry
from revsearch.errors import RevsearchError
from revsearch.indexing.pairing import open_checked
from revsearch.input_modes import LEGACY_INPUT, check_input
from revsearch.precisions import LEGACY_PRECISION, check_precision
from revsearch.progress import Progress, report


@dataclass
class IngestReport:
    shards: int = 0
    rows: int = 0
    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"shards": self.shards, "rows": self.rows, "indexed": self.indexed, "updated": self.updated,
                "unchanged": self.unchanged, "seconds": round(self.seconds, 3),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "duplicates": [{"path": p, "duplicate_of": i} for p, i in self.duplicates]}


Made = tuple[str, str, str, str]  # (model, fingerprint, input handling, precision): what makes vectors comparable


def shards_model(files: Sequence[Path], vouched: str | None, vouched_input: str | None = None) -> Made:
    """The one (model, fingerprint, input handling, precision) every shard records. A shard that records no model
    is accepted only when the user vouches for it with --model NAME, and is then taken as made by NAME with the
    weights this machine has; one that records no input handling was made with --input (`vouched_input`), else
    `letterbox`; one that records no precision in fp32."""
    if not files:
        raise RevsearchError("no .parquet shards found")
    assumed = (vouched, file_fingerprint(model_entry(vouched).weights_path())) if vouched else None
    found: Made | None = None
    for shard in files:
        model, fingerprint, input_mode, precision = shard_model(shard)
        if model is None or fingerprint is None:
            if assumed is None:
                raise RevsearchError(f"shard {shard} does not record revsearch.model/revsearch.fingerprint; pass "
                                     f"--model NAME to vouch that NAME (with this machine's weights) made it")
            model, fingerprint = assumed
        elif vouched and model != vouched:
            raise RevsearchError(f"shard {shard} was made with model {model!r}, not {vouched!r}")
        if input_mode is None:
            input_mode = vouched_input or LEGACY_INPUT
        elif vouched_input and input_mode != vouched_input:
            raise RevsearchError(f"shard {shard} was made with input handling {input_mode!r}, not {vouched_input!r}")
        check_input(input_mode)
        precision = check_precision(precision or LEGACY_PRECISION)
        if found is not None and (model, fingerprint, input_mode, precision) != found:
            raise RevsearchError(f"shard {shard} was made with {model} ({fingerprint[:12]}…, input {input_mode}, "
                                 f"{precision}) but earlier shards with {found[0]} ({found[1][:12]}…, input "
                                 f"{found[2]}, {found[3]}); their vectors are not comparable")
        found = (model, fingerprint, input_mode, precision)
    assert found is not None
    return found


def open_for(directory: Path, made: Made, files: Sequence[Path]) -> Collection:
    """The collection to ingest into: existing (its model, input handling and precision must match) or new, bound to
    the shards' model, input handling and precision."""
    model, fingerprint, input_mode, precision = made
    coll = open_checked(directory, model, fingerprint, input_mode, precision)
    if coll is not None:
        return coll
    try:
        dim = model_entry(model).spec.dim
    except RevsearchError:  # vectors from a model revsearch does not run: searchable with --embedding only
        dim = next((len(r.vector) for rows in read_shard(files[0], None) for r in rows if r.vector is not None), 0)
    return Collection.create(directory, model, fingerprint, dim, input_mode=input_mode, precision=precision)


def ingest_shards(coll: Collection, files: Sequence[Path], progress: Progress | None = None) -> IngestReport:
    """Add or refresh the shards' rows, one committed transaction per batch of rows. Memory stays flat at any size:
    the catalog rows a batch needs (same paths, same content) are looked up per batch, never all held."""
    started = time.perf_counter()
    result = IngestReport(shards=len(files))
    for shard in files:
        for rows in read_shard(shard, coll.dim):
            result.rows += len(rows)
            existing = sampling.rows_at(coll, [r.path for r in rows])
            known = sampling.indexed_with_hash(coll, sorted({r.sha256 for r in rows if r.sha256}))
            _ingest_group(coll, rows, existing, known, result)
            report(progress, result.rows, 0, shard.name)
    result.seconds = time.perf_counter() - started
    return result


def _unchanged(old: ImageRow, row: ShardRow) -> bool:
    """Same path and, where the shard says, the same content hash, size and mtime as the catalog row."""
    return all(new is None or new == have for new, have in
               ((row.sha256, old.hash), (row.size, old.size), (row.mtime_ns, old.mtime_ns)))


def _ingest_group(coll: Collection, rows: list[ShardRow], existing: dict[str, ImageRow], known: dict[str, int],
                  result: IngestReport) -> None:
    """Commit one row group; a second copy of content first seen in this group waits for the original's id."""
    batch: list[tuple[NewRow, np.ndarray | None]] = []
    pending: set[str] = set()
    for row in rows:
        old = existing.get(row.path)
        if old is not None and _unchanged(old, row):
            result.unchanged += 1
            continue
        if row.sha256 in pending:
            _commit(coll, batch, existing, known)
            batch, pending = [], set()
        own_id = old.id if old else None
        if row.error is not None:
            new = NewRow(row.path, row.sha256, row.size, row.mtime_ns, row.width, row.height, "skipped", row.error)
            result.skipped.append((row.path, row.error))
        elif row.sha256 and row.sha256 in known and known[row.sha256] != own_id:
            new = NewRow(row.path, row.sha256, row.size, row.mtime_ns, row.width, row.height, "duplicate",
                         duplicate_of=known[row.sha256])
            result.duplicates.append((row.path, known[row.sha256]))
        else:
            new = NewRow(row.path, row.sha256, row.size, row.mtime_ns, row.width, row.height)
            if row.sha256:
                pending.add(row.sha256)
            if old is None:
                result.indexed += 1
            else:
                result.updated += 1
        batch.append((new, row.vector if new.status == "indexed" else None))
    _commit(coll, batch, existing, known)


def _commit(coll: Collection, batch: list[tuple[NewRow, np.ndarray | None]], existing: dict[str, ImageRow],
            known: dict[str, int]) -> None:
    if not batch:
        return
    vectors = np.zeros((len(batch), coll.dim), dtype=np.float32)
    for n, (_, vector) in enumerate(batch):
        if vector is not None:
            vectors[n] = vector
    ids = coll.add_rows([new for new, _ in batch], vectors)
    for (new, _), image_id in zip(batch, ids):
        existing[new.path] = ImageRow(image_id, new.path, new.status, new.reason, new.hash, new.size, new.mtime_ns,
                                      new.width, new.height, new.duplicate_of)
        if new.status == "indexed" and new.hash:
            known[new.hash] = image_id
