"""Embedding shards: Parquet files any tool can write, and revsearch can embed into or ingest from.

Schema (docs/scale.md): `path` string, required (absolute); `embedding` list or fixed-size list of float32,
L2-normalised, required for rows without an error; optional `sha256`, `size`, `mtime_ns`, `width`, `height`, and
`error` (a string marks a file that could not be embedded: it becomes a skipped row with that reason). File metadata
`revsearch.model`, `revsearch.fingerprint`, `revsearch.input` and `revsearch.precision` say which model, weights,
input handling and precision made the vectors (shards that record no input handling were made with `letterbox`, and
no precision in fp32, as before each was a choice).

Shards are read one row group at a time and written atomically (temp file + rename), so memory stays bounded and a
killed `embed` leaves only complete shards; both directions resume where they stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from revsearch.indexing.sync import Entry, Loaded
from revsearch.indexing.pipeline import Embedded
from revsearch.errors import RevsearchError

MODEL_KEY, FINGERPRINT_KEY, INPUT_KEY = b"revsearch.model", b"revsearch.fingerprint", b"revsearch.input"
PRECISION_KEY = b"revsearch.precision"
OPTIONAL = {"sha256": pa.string(), "size": pa.int64(), "mtime_ns": pa.int64(), "width": pa.int64(),
            "height": pa.int64(), "error": pa.string()}
NORM_TOLERANCE = 1e-3
SHARD_GLOB = "*.parquet"
READ_ROWS = 8192  # rows handed over (and committed by ingest) at a time
GROUP_ROWS = 65_536  # row groups up to this size are read whole (fastest); larger ones stream READ_ROWS at a time


@dataclass(frozen=True)
class ShardRow:
    """One validated shard row; `vector` is None exactly when `error` is set."""

    path: str
    vector: np.ndarray | None
    sha256: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None


def shard_files(location: Path) -> list[Path]:
    """A single .parquet file, or every *.parquet in a folder, in name order (the order they were written)."""
    location = location.expanduser()
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise RevsearchError(f"no shards at {location} (neither a .parquet file nor a folder)")
    return sorted(p for p in location.glob(SHARD_GLOB) if p.is_file())


def shard_model(path: Path) -> tuple[str | None, str | None, str | None, str | None]:
    """(model, fingerprint, input handling, precision) from a shard's file metadata (None where a tool did not
    record it), after checking the schema, so a bad shard is refused before anything is written."""
    meta = _checked(path).schema_arrow.metadata or {}
    found = (meta.get(MODEL_KEY), meta.get(FINGERPRINT_KEY), meta.get(INPUT_KEY), meta.get(PRECISION_KEY))
    return tuple(value.decode() if value else None for value in found)  # type: ignore[return-value]


def read_shard(path: Path, dim: int | None) -> Iterator[list[ShardRow]]:
    """Validated rows, READ_ROWS at a time (whatever the shard's row groups: another tool may write one group of a
    million rows); the first bad row stops with an error naming shard and row. Embeddings go from Arrow's buffers to
    numpy without a Python float per component."""
    pf = _checked(path)
    names = set(pf.schema_arrow.names)
    columns = ["path", "embedding", *(c for c in OPTIONAL if c in names)]
    first = 0
    for batch in _batches(pf, columns):
        data = {c: batch.column(c).to_pylist() if c in names else [None] * batch.num_rows for c in ("path", *OPTIONAL)}
        embeddings, norms = _embeddings(batch.column("embedding"))
        rows = []
        for n, raw in enumerate(embeddings):
            rows.append(_row(path, first + n, data, n, raw, norms[n], dim))
            dim = dim or (len(raw) if raw is not None else None)
        first += len(embeddings)
        yield rows


def _batches(pf: pq.ParquetFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The shard's rows, READ_ROWS at a time: small row groups read whole, large ones (another tool may write one
    group of a million rows) streamed, so memory stays bounded either way."""
    for group in range(pf.num_row_groups):
        if pf.metadata.row_group(group).num_rows <= GROUP_ROWS:
            yield from pf.read_row_group(group, columns=columns).to_batches(max_chunksize=READ_ROWS)
        else:
            yield from pf.iter_batches(batch_size=READ_ROWS, row_groups=[group], columns=columns)


def _embeddings(column: pa.Array) -> tuple[list[np.ndarray | None], np.ndarray]:
    """One float32 array per row (a view into the batch's values; None where the list is null) and each row's L2
    norm (NaN where not finite), computed for the whole batch at once when its rows are of one length."""
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    ends = np.cumsum(lengths)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    rows = [values[end - length : end] if ok else None for end, length, ok in zip(ends, lengths, valid)]
    norms = np.full(len(rows), np.nan)
    width = set(lengths[valid].tolist())
    if len(width) == 1 and (size := width.pop()):
        matrix = values.reshape(-1, size)
        norms[valid] = np.where(np.isfinite(matrix).all(axis=1), np.linalg.norm(matrix, axis=1), np.nan)
    else:
        norms[valid] = [float(np.linalg.norm(r)) if np.isfinite(r).all() else np.nan for r in rows if r is not None]
    return rows, norms


def _row(shard: Path, number: int, data: dict[str, list], n: int, raw: np.ndarray | None, norm: float,
         dim: int | None) -> ShardRow:
    where = f"shard {shard}: row {number}"
    path, error = data["path"][n], data["error"][n]
    if not path:
        raise RevsearchError(f"{where}: empty 'path'")
    if not os.path.isabs(path):
        raise RevsearchError(f"{where}: path {path!r} is not absolute")
    vector = None
    if error is None:
        if raw is None:
            raise RevsearchError(f"{where} ({path}): no embedding and no error")
        vector = raw
        if dim is not None and len(vector) != dim:
            raise RevsearchError(f"{where} ({path}): embedding has {len(vector)} dimensions, expected {dim}")
        if np.isnan(norm):
            raise RevsearchError(f"{where} ({path}): embedding contains NaN or infinity")
        if abs(norm - 1.0) > NORM_TOLERANCE:
            raise RevsearchError(f"{where} ({path}): embedding is not L2-normalised (norm {norm:.4f})")
    return ShardRow(path, vector, *(data[c][n] for c in OPTIONAL))


def _checked(path: Path) -> pq.ParquetFile:
    """The shard, opened, with its required columns and their types checked."""
    pf = _open(path)
    names = set(pf.schema_arrow.names)
    for required in ("path", "embedding"):
        if required not in names:
            raise RevsearchError(f"shard {path}: missing required column {required!r} "
                                 f"(has: {', '.join(sorted(names))})")
    etype = pf.schema_arrow.field("embedding").type
    if not (pa.types.is_list(etype) or pa.types.is_large_list(etype) or pa.types.is_fixed_size_list(etype)) or \
            not pa.types.is_floating(etype.value_type):
        raise RevsearchError(f"shard {path}: column 'embedding' must be a list of float32, not {etype}")
    return pf


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise RevsearchError(f"shard {path}: not a readable Parquet file ({exc})") from exc


def written_entries(location: Path) -> dict[str, tuple[int | None, int | None]]:
    """path → (size, mtime_ns) of every row already in the shards at `location` (what a resumed `embed` skips)."""
    done: dict[str, tuple[int | None, int | None]] = {}
    if not location.is_dir():
        return done
    for shard in shard_files(location):
        pf = _open(shard)
        cols = [c for c in ("path", "size", "mtime_ns") if c in pf.schema_arrow.names]
        for group in range(pf.num_row_groups):
            table = pf.read_row_group(group, columns=cols).to_pydict()
            for n, path in enumerate(table["path"]):
                done[path] = (table.get("size", [None] * (n + 1))[n], table.get("mtime_ns", [None] * (n + 1))[n])
    return done


class ShardWriter:
    """Buffers embedded files and writes them as numbered shards of `rows_per_shard` rows (atomically)."""

    def __init__(self, out: Path, model: str, fingerprint: str, dim: int, input_mode: str, precision: str,
                 rows_per_shard: int = 10_000, row_group: int = 1024) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.dim, self.rows_per_shard, self.row_group = out, dim, rows_per_shard, row_group
        fields = [pa.field("path", pa.string(), nullable=False), pa.field("embedding", pa.list_(pa.float32(), dim)),
                  *(pa.field(name, kind) for name, kind in OPTIONAL.items())]
        self.schema = pa.schema(fields, metadata={MODEL_KEY: model.encode(), FINGERPRINT_KEY: fingerprint.encode(),
                                                  INPUT_KEY: input_mode.encode(), PRECISION_KEY: precision.encode()})
        existing = [int(p.stem.split("-")[-1]) for p in out.glob("shard-*.parquet") if p.stem.split("-")[-1].isdigit()]
        self.next_number = max(existing, default=-1) + 1
        self.buffer: list[Embedded[Entry, Loaded]] = []
        self.written: list[Path] = []

    def add(self, items: Sequence[Embedded[Entry, Loaded]]) -> None:
        self.buffer.extend(items)
        while len(self.buffer) >= self.rows_per_shard:
            self._write(self.buffer[: self.rows_per_shard])
            self.buffer = self.buffer[self.rows_per_shard :]

    def close(self) -> None:
        if self.buffer:
            self._write(self.buffer)
            self.buffer = []

    def _write(self, items: Sequence[Embedded[Entry, Loaded]]) -> None:
        loaded = [item.loaded for item in items]
        flat = np.zeros((len(items), self.dim), dtype=np.float32)
        for n, item in enumerate(items):
            if item.vector is not None:
                flat[n] = item.vector
        valid = np.array([item.vector is not None for item in items])
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), self.dim, mask=pa.array(~valid))
        columns = {
            "path": [str(x.path) for x in loaded], "embedding": embedding, "sha256": [x.hash for x in loaded],
            "size": [x.size if x.size >= 0 else None for x in loaded],
            "mtime_ns": [x.mtime_ns if x.mtime_ns >= 0 else None for x in loaded],
            "width": [x.width for x in loaded], "height": [x.height for x in loaded],
            "error": [None if item.vector is not None else (item.loaded.skip or "not embedded") for item in items],
        }
        table = pa.table(columns, schema=self.schema)
        target = self.out / f"shard-{self.next_number:05d}.parquet"
        tmp = target.with_name(target.name + ".tmp")
        pq.write_table(table, tmp, row_group_size=self.row_group)
        os.replace(tmp, target)
        self.next_number += 1
        self.written.append(target)
