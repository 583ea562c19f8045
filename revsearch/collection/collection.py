"""A collection: one directory holding the catalog (rows + vectors) and the FAISS index derived from it."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence, TypeVar

import faiss
import numpy as np

from revsearch.collection import catalog, index_plan, vector_index
from revsearch.collection.rows import ImageRow, NewRow, RowWriter
from revsearch.collection.snapshot import VectorSnapshot
from revsearch.errors import CREATE_COLLECTION, Hint, RevsearchError
from revsearch.input_modes import DEFAULT_INPUT, LEGACY_INPUT, check_input
from revsearch.precisions import LEGACY_PRECISION, check_precision

T = TypeVar("T")


class GenerationMoved(RevsearchError):
    """A result computed from the vectors of one generation met a catalog whose vectors changed meanwhile."""


MISSING = "missing"  # pseudo-status for `rows` and `counts`: rows whose file is not found


class Collection:
    """Open with `Collection.open(dir)` or `Collection.create(dir, ...)`; thread-safe for the app's reruns."""

    def __init__(self, directory: Path, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.conn = conn
        self.lock = threading.RLock()
        self._build_lock = threading.Lock()
        self.model = catalog.get_meta(conn, "model") or ""
        self.fingerprint = catalog.get_meta(conn, "fingerprint") or ""
        # how images became model inputs (input_modes.py) and in which precision (precisions.py); made before each
        self.input_mode = catalog.get_meta(conn, "input_mode") or LEGACY_INPUT  # was a choice: letterbox, fp32
        self.precision = catalog.get_meta(conn, "precision") or LEGACY_PRECISION
        self.dim = int(catalog.get_meta(conn, "dim") or 0)
        self.vector_dtype = np.dtype(catalog.get_meta(conn, "vector_dtype") or "float32")
        self._index: faiss.Index | None = None
        self._index_generation = -1
        self._derived: dict[str, tuple[tuple[int, Hashable], object]] = {}
        self._derived_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, directory: Path | str, model: str, fingerprint: str, dim: int,
               vector_dtype: str = "float32", input_mode: str = DEFAULT_INPUT, precision: str = LEGACY_PRECISION
               ) -> "Collection":
        """Make a new collection bound to one model + weights + input handling + precision (indexing/pairing.py
        passes an embedder's); refuses a directory that already holds one.

        `vector_dtype="float16"` halves the catalog's size; scores then differ from float32 by < 1e-3.
        """
        if vector_dtype not in ("float32", "float16"):
            raise RevsearchError(f"vectors are stored as float32 or float16, not {vector_dtype!r}")
        check_input(input_mode)
        check_precision(precision)
        directory = Path(directory).expanduser().resolve()
        if (directory / catalog.CATALOG_NAME).exists():
            raise RevsearchError(f"{directory} already holds a collection")
        if directory.exists() and not directory.is_dir():
            raise RevsearchError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        conn = catalog.connect(directory / catalog.CATALOG_NAME)
        catalog.migrate(conn)
        with _transaction(conn):
            for key, value in (("model", model), ("fingerprint", fingerprint), ("dim", dim),
                               ("created_at", time.time()), ("generation", 0),
                               ("vector_dtype", vector_dtype), ("input_mode", input_mode), ("precision", precision)):
                catalog.set_meta(conn, key, value)
        return cls(directory, conn)

    @classmethod
    def open(cls, directory: Path | str, read_only: bool = False) -> "Collection":
        """Open an existing collection (upgrading its schema), with a clear error when there is none.

        `read_only` (or a catalog file this user may not write) opens it `mode=ro`: reads work, writes fail."""
        directory = Path(directory).expanduser().resolve()
        path = directory / catalog.CATALOG_NAME
        if not path.is_file():
            raise RevsearchError(f"no collection at {directory} (missing {catalog.CATALOG_NAME})",
                                 Hint(CREATE_COLLECTION, {"directory": str(directory)}))
        try:
            conn = catalog.connect(path, read_only=read_only)
            catalog.migrate(conn)
            model = catalog.get_meta(conn, "model")
        except sqlite3.DatabaseError as exc:
            raise RevsearchError(f"cannot read the collection catalog {path}: {exc}") from exc
        if not model:
            raise RevsearchError(f"{path} is not a revsearch catalog (no model recorded)")
        return cls(directory, conn)

    @staticmethod
    def exists(directory: Path | str) -> bool:
        return (Path(directory).expanduser() / catalog.CATALOG_NAME).is_file()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    @property
    def generation(self) -> int:
        """Moves whenever the set of vectors changes; caches derived from vectors compare it."""
        return int(self.meta("generation") or 0)

    def meta(self, key: str, default: str | None = None) -> str | None:
        """One value of the collection's metadata table (model, generation, analysis bookkeeping)."""
        with self.lock:
            return catalog.get_meta(self.conn, key, default)

    def set_meta(self, values: Mapping[str, object]) -> None:
        """Write metadata values in one transaction."""
        with self.transaction() as conn:
            catalog.set_many(conn, values)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A consistent snapshot for several reads (one read transaction, no write lock taken)."""
        with self.lock:
            if self.conn.in_transaction:
                yield
                return
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        """Present files per status ('indexed' = searchable), and 'missing': rows whose file is not found."""
        with self.lock:  # two index-only counts (status, then the few missing rows): no scan of a million rows
            everything = self.conn.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall()
            missing = dict(self.conn.execute("SELECT status, COUNT(*) FROM images INDEXED BY images_missing "
                                             "WHERE missing_since IS NOT NULL GROUP BY status").fetchall())
        counts = {"indexed": 0, "skipped": 0, "duplicate": 0}
        counts.update({status: n - missing.get(status, 0) for status, n in everything})
        counts["missing"] = sum(missing.values())
        return counts

    def rows(self, status: str | None = None, limit: int = -1) -> list[ImageRow]:
        """Every row (missing ones included, see `ImageRow.missing`); or present rows of one status; or, with
        status 'missing', the rows whose file is not found. The first `limit` of them by id when given."""
        if status is None:
            sql, params = "SELECT * FROM images ORDER BY id", ()
        elif status == MISSING:
            sql, params = "SELECT * FROM images WHERE missing_since IS NOT NULL ORDER BY id", ()
        else:
            sql, params = "SELECT * FROM images WHERE status = ? AND missing_since IS NULL ORDER BY id", (status,)
        with self.lock:
            return [ImageRow.from_sql(r) for r in self.conn.execute(sql + " LIMIT ?", (*params, int(limit)))]

    def get(self, image_id: int) -> ImageRow | None:
        with self.lock:
            row = self.conn.execute("SELECT * FROM images WHERE id = ?", (int(image_id),)).fetchone()
        return ImageRow.from_sql(row) if row else None

    def by_path(self, path: Path | str) -> ImageRow | None:
        with self.lock:
            row = self.conn.execute("SELECT * FROM images WHERE path = ?", (str(path),)).fetchone()
        return ImageRow.from_sql(row) if row else None

    def paths(self, ids: Sequence[int]) -> dict[int, str]:
        """id → path for the given ids (missing ids are absent)."""
        with self.lock:
            out: dict[int, str] = {}
            ids = [int(i) for i in ids]
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                out.update(self.conn.execute(f"SELECT id, path FROM images WHERE id IN ({marks})", chunk).fetchall())
            return out

    def rows_by_id(self, ids: Sequence[int]) -> dict[int, ImageRow]:
        """id → row for the given ids (missing ids are absent)."""
        out: dict[int, ImageRow] = {}
        with self.lock:
            for chunk in catalog.chunks(ids):
                for r in self.conn.execute(f"SELECT * FROM images WHERE id IN ({catalog.marks(chunk)})", chunk):
                    out[int(r["id"])] = ImageRow.from_sql(r)
        return out

    def indexed_hashes(self) -> dict[int, str | None]:
        """id → content hash of every indexed image (what derived data remembers to notice changed files)."""
        with self.lock:
            return {int(r[0]): r[1] for r in self.conn.execute("SELECT id, hash FROM images WHERE status = 'indexed' "
                                                                  "AND missing_since IS NULL")}

    def vectors(self, ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64[n], vectors float32[n, dim]) of indexed images, in id order (or for the given ids).

        Missing images are not among them (their vectors are parked until their file is found again). Rows are
        streamed straight into one preallocated array: no second copy of all vectors at any point."""
        with self.lock:
            if ids is None:
                n = self.conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
                return self._fill(n, [self.conn.execute("SELECT image_id, vec FROM vectors ORDER BY image_id")])
            wanted = sorted({int(i) for i in ids})
            chunks = [wanted[start : start + 900] for start in range(0, len(wanted), 900)]
            cursors = [self.conn.execute(f"SELECT image_id, vec FROM vectors WHERE image_id IN "
                                         f"({','.join('?' * len(chunk))}) ORDER BY image_id", chunk)
                       for chunk in chunks]
            return self._fill(len(wanted), cursors)

    def _fill(self, capacity: int, cursors: Sequence[sqlite3.Cursor]) -> tuple[np.ndarray, np.ndarray]:
        out_ids = np.empty(capacity, dtype=np.int64)
        out = np.empty((capacity, self.dim), dtype=np.float32)
        n = 0
        for cursor in cursors:
            for image_id, blob in cursor:
                out_ids[n] = image_id
                out[n] = np.frombuffer(blob, dtype=self.vector_dtype)
                n += 1
        return out_ids[:n], out[:n]

    def encode_vector(self, vector: np.ndarray) -> bytes:
        """A vector as stored in the catalog (float32 or float16 by the collection's setting)."""
        return np.ascontiguousarray(vector, dtype=self.vector_dtype).tobytes()

    # ------------------------------------------------------------------ the index

    def index(self) -> faiss.Index:
        """The FAISS index for the current generation: cached, else opened memory-mapped, else built and saved.

        Exact search up to `vector_index.EXACT_LIMIT` vectors, ANN past it (see `index_info`). A build (or patch)
        reads a snapshot of the catalog on a connection of its own and does not hold the collection's lock: other
        threads keep reading and writing meanwhile. If the generation moved during the build, the index built is
        returned and saved under the generation it was built from; the next call patches it up to date."""
        with self.lock:
            ready = self._ready_index()
        if ready is not None:
            return ready
        with self._build_lock:  # one build at a time per collection object; a waiting caller reuses its result
            with self.lock:
                ready = self._ready_index()
                info = self.index_info()
            if ready is not None:
                return ready
            index, info, generation = self._fresh_index(info)
            vector_index.save(index, self.directory, generation)
            del index  # served memory-mapped from the file just written, not from this copy
            with self.transaction() as conn:
                catalog.set_meta(conn, "index_info", info.to_json())
            index = vector_index.load(self.directory, generation)
            if index is None:
                raise RevsearchError(f"the index just written to {self.directory} cannot be read back")
            vector_index.set_search_params(index, info)
            with self.lock:
                self._index, self._index_generation = index, generation
            return index

    def index_path(self) -> Path:
        """The file the index of the current generation is kept in (there once `index()` has run)."""
        return vector_index.index_file(self.directory, self.generation)

    def _ready_index(self) -> faiss.Index | None:
        """The cached or saved index of the current generation when it matches the catalog (call under the lock)."""
        generation = self.generation
        if self._index is not None and self._index_generation == generation:
            return self._index
        index = vector_index.load(self.directory, generation)
        info = self.index_info()
        if index is None or info is None or index.ntotal != self.counts()["indexed"]:
            return None
        vector_index.set_search_params(index, info)
        self._index, self._index_generation = index, generation
        return index

    def derived(self, kind: str, params: Hashable, build: Callable[[], T]) -> T:
        """A value computed from this generation's vectors beside the index (the learned space's index, label
        suggestions): one per `kind`, kept while the generation and `params` stay the same, else built again.
        Built outside every lock (a build may read the collection; of two at once, the last one is kept)."""
        key = (self.generation, params)
        with self._derived_lock:
            held = self._derived.get(kind)
            if held is not None and held[0] == key:
                return held[1]  # type: ignore[return-value]
            self._derived.pop(kind, None)  # the old value is freed before the new one is built
        value = build()
        with self._derived_lock:
            self._derived[kind] = (key, value)
        return value

    def peek_derived(self, kind: str, params: Hashable) -> tuple[Any, bool] | None:
        """What `derived` holds for `kind`, building nothing: (value, whether it is for this generation and params)."""
        with self._derived_lock:
            held = self._derived.get(kind)
        return None if held is None else (held[1], held[0] == (self.generation, params))

    @property
    def index_memory(self) -> int | None:
        """The memory budget (bytes) index builds are sized to (`set_index_memory`; default index_plan's 4 GB)."""
        value = self.meta("index_memory")
        return int(value) if value else index_plan.DEFAULT_BUDGET

    def set_index_memory(self, budget: str | int | None) -> None:
        """Remember the budget for every later build ("4G", bytes); the next build that needs it follows it."""
        value = index_plan.parse_memory(budget)
        if value is not None and value != self.index_memory:
            self.set_meta({"index_memory": value})

    def snapshot(self) -> VectorSnapshot:
        """A consistent streamed view of the vectors on a connection of its own (no lock held while reading)."""
        return VectorSnapshot(self.directory / catalog.CATALOG_NAME, self.dim, self.vector_dtype)

    def iter_vectors(self, batch: int = 16_384) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) chunks of at most `batch` rows, in id order, from one consistent snapshot."""
        with self.snapshot() as snap:
            yield from snap.batches(batch)

    def _fresh_index(self, info: vector_index.IndexInfo | None
                     ) -> tuple[faiss.Index, vector_index.IndexInfo, int]:
        """(index, info, generation it holds): the last index patched, else a budgeted build, from one snapshot."""
        started = time.time()
        budget = self.index_memory
        with self.snapshot() as snap:
            patched = self._patched_index(snap, info, budget)
            if patched is not None:
                return (*patched, snap.generation)
            index, info = vector_index.build_from(snap, self.dim, budget=budget, built_at=started)
            return index, info, snap.generation

    def _patched_index(self, snap: VectorSnapshot, info: vector_index.IndexInfo | None, budget: int | None
                       ) -> tuple[faiss.Index, vector_index.IndexInfo] | None:
        """The last saved index brought up to date by removing and adding only what changed since it was built
        (adding 10 images to a large collection must not retrain or re-read everything); None → rebuild."""
        if info is None or info.built_at is None:
            return None
        started = time.time()
        current = snap.ids()
        if not vector_index.can_update(info, len(current), self.dim, budget):
            return None
        index = vector_index.load_latest(self.directory)
        if index is None:
            return None
        held = vector_index.stored_ids(index)
        # rows touched since the build (a superset: a second of slack for clock granularity) get their vector again
        changed = snap.updated_since(info.built_at - 1.0)
        stale = np.union1d(np.setdiff1d(held, current), np.intersect1d(changed, held))
        fresh = np.union1d(np.setdiff1d(current, held), changed)
        if len(stale):
            index.remove_ids(stale)
        if len(fresh):
            ids, vecs = snap.vectors_of(fresh)
            index.add_with_ids(vecs, ids)
        if index.ntotal != len(current):
            return None
        info.ntotal, info.built_at = int(index.ntotal), started
        return index, info

    def index_info(self) -> vector_index.IndexInfo | None:
        """How the current index was built: factory string, nprobe, measured recall@10, bytes per vector."""
        return vector_index.IndexInfo.from_json(self.meta("index_info"))

    # ------------------------------------------------------------------ writing

    @contextmanager
    def transaction(self, generation: int | None = None) -> Iterator[sqlite3.Connection]:
        """One atomic batch of raw catalog writes, for the modules of revsearch/collection/ only.

        With `generation`: refuses (GenerationMoved, nothing written) when the vectors are no longer those of that
        generation — a long build computed outside the lock is swapped in only if it still describes the catalog.
        """
        with self.lock, _transaction(self.conn) as conn:
            if generation is not None and int(catalog.get_meta(conn, "generation") or 0) != int(generation):
                raise GenerationMoved(f"the collection changed while this was computed (generation {generation})")
            yield conn

    def bump_generation(self, conn: sqlite3.Connection) -> None:
        catalog.set_meta(conn, "generation", int(catalog.get_meta(conn, "generation") or 0) + 1)

    @contextmanager
    def batch(self) -> Iterator[RowWriter]:
        """One transaction of row and vector writes; the generation moves at the end when any vector changed."""
        with self.transaction() as conn:
            writer = RowWriter(conn, self.encode_vector)
            yield writer
            if writer.vectors_changed:
                self.bump_generation(conn)

    def add_rows(self, rows: Sequence[NewRow], vectors: np.ndarray | None = None) -> list[int]:
        """One transaction: upsert rows by path; returns the row ids in order.

        Rows with status 'indexed' get `vectors[i]` (aligned with `rows`, float32 [len(rows), dim], L2-normalised;
        other rows' entries are ignored, and those rows lose any stored vector). With `vectors=None` an indexed row
        must already have a vector. The generation moves when vectors changed."""
        rows = list(rows)
        for row in rows:
            row.check()
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.shape != (len(rows), self.dim):
                raise RevsearchError(f"add_rows needs vectors of shape ({len(rows)}, {self.dim}), "
                                     f"not {vectors.shape}")
        ids: list[int] = []
        with self.batch() as writer:
            for n, row in enumerate(rows):
                indexed = row.status == "indexed"
                image_id = writer.upsert(row, vectors[n] if indexed and vectors is not None else None)
                if indexed and vectors is None and not writer.has_vector(image_id):
                    raise RevsearchError(f"{row.path}: an indexed row needs a vector")
                ids.append(image_id)
        return ids

    def remove(self, ids: Sequence[int]) -> int:
        """Forget images (rows and vectors); a removed original hands its vector to its first duplicate."""
        with self.batch() as writer:
            return writer.remove(ids)

    def mark_missing(self, ids: Sequence[int]) -> int:
        """Files no longer found: they leave search and counts but keep their rows, labels and clusters."""
        with self.batch() as writer:
            return writer.mark_missing(ids)

    def prune(self, under: str | None = None) -> int:
        """Delete missing rows for good (all, or those whose path starts with `under`); their labels, cluster
        membership and map points go with them. Returns how many rows went."""
        with self.batch() as writer:
            ids = [r[0] for r in self.conn.execute("SELECT id, path FROM images WHERE missing_since IS NOT NULL")
                   if under is None or r[1].startswith(under)]
            return writer.remove(ids)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
