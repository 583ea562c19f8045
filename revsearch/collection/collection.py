"""A collection: one directory holding the catalog (rows + vectors) and the FAISS index derived from it."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import faiss
import numpy as np

from revsearch.collection import catalog, vector_index
from revsearch.errors import RevsearchError


@dataclass(frozen=True)
class ImageRow:
    """One catalog row as the rest of revsearch sees it."""

    id: int
    path: str
    status: str
    reason: str | None
    hash: str | None
    size: int | None
    mtime_ns: int | None
    width: int | None
    height: int | None
    duplicate_of: int | None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> "ImageRow":
        return cls(row["id"], row["path"], row["status"], row["reason"], row["hash"], row["size"], row["mtime_ns"],
                   row["width"], row["height"], row["duplicate_of"])


@dataclass(frozen=True)
class NewRow:
    """One image row to write with `Collection.add_rows` (the agreed API of issue 10)."""

    path: str
    hash: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    width: int | None = None
    height: int | None = None
    status: str = "indexed"
    reason: str | None = None
    duplicate_of: int | None = None


class Collection:
    """Open with `Collection.open(dir)` or `Collection.create(dir, ...)`; thread-safe for the app's reruns."""

    def __init__(self, directory: Path, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.conn = conn
        self.lock = threading.RLock()
        self.model = catalog.get_meta(conn, "model") or ""
        self.fingerprint = catalog.get_meta(conn, "fingerprint") or ""
        self.dim = int(catalog.get_meta(conn, "dim") or 0)
        self.vector_dtype = np.dtype(catalog.get_meta(conn, "vector_dtype") or "float32")
        self._index: faiss.Index | None = None
        self._index_generation = -1

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, directory: Path | str, model: str, fingerprint: str, dim: int,
               vector_dtype: str = "float32") -> "Collection":
        """Make a new collection bound to one model + weights; refuses a directory that already holds one.

        `vector_dtype="float16"` halves the catalog's size; scores then differ from float32 by < 1e-3.
        """
        if vector_dtype not in ("float32", "float16"):
            raise RevsearchError(f"vectors are stored as float32 or float16, not {vector_dtype!r}")
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
                               ("vector_dtype", vector_dtype)):
                catalog.set_meta(conn, key, value)
        return cls(directory, conn)

    @classmethod
    def open(cls, directory: Path | str) -> "Collection":
        """Open an existing collection (upgrading its schema), with a clear error when there is none."""
        directory = Path(directory).expanduser().resolve()
        path = directory / catalog.CATALOG_NAME
        if not path.is_file():
            raise RevsearchError(f"no collection at {directory} (missing {catalog.CATALOG_NAME}); create one with "
                                 f"`python -m revsearch index FOLDER --collection {directory}`")
        try:
            conn = catalog.connect(path)
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

    # ------------------------------------------------------------------ model contract

    def check_model(self, name: str, fingerprint: str) -> None:
        """Vectors from another model or other weights are not comparable: refuse them with a message that says so."""
        if name != self.model:
            raise RevsearchError(
                f"collection {self.directory} was built with model {self.model!r}; it cannot be used with "
                f"{name!r} (its vectors are not comparable). Use --model {self.model} or a new collection."
            )
        if fingerprint != self.fingerprint:
            raise RevsearchError(
                f"collection {self.directory} was built with other {self.model} weights "
                f"({self.fingerprint[:12]}…, now {fingerprint[:12]}…); re-index it into a new collection"
            )

    # ------------------------------------------------------------------ reading

    @property
    def generation(self) -> int:
        return int(catalog.get_meta(self.conn, "generation") or 0)

    def counts(self) -> dict[str, int]:
        with self.lock:
            rows = self.conn.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall()
        counts = {"indexed": 0, "skipped": 0, "duplicate": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def rows(self, status: str | None = None) -> list[ImageRow]:
        sql = "SELECT * FROM images" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        with self.lock:
            return [ImageRow.from_sql(r) for r in self.conn.execute(sql, (status,) if status else ())]

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

    def vectors(self, ids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64[n], vectors float32[n, dim]) of indexed images, in id order (or for the given ids).

        Rows are streamed straight into one preallocated array: no second copy of all vectors at any point."""
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
        """The FAISS index for the current generation: cached in memory, else loaded, else rebuilt and saved.

        Exact search up to `vector_index.EXACT_LIMIT` vectors, ANN past it (see `index_info`)."""
        with self.lock:
            generation = self.generation
            if self._index is not None and self._index_generation == generation:
                return self._index
            index = vector_index.load(self.directory, generation)
            info = self.index_info()
            if index is None or info is None or index.ntotal != self.counts()["indexed"]:
                updated = self._patched_index(info)
                if updated is None:
                    ids, vecs = self.vectors()
                    updated = vector_index.build(ids, vecs, self.dim, float16=self.vector_dtype == np.float16)
                index, info = updated
                vector_index.save(index, self.directory, generation)
                with _transaction(self.conn):
                    catalog.set_meta(self.conn, "index_info", info.to_json())
            vector_index.set_search_params(index, info)
            self._index, self._index_generation = index, generation
            return index

    def _patched_index(self, info: vector_index.IndexInfo | None) -> tuple[faiss.Index, vector_index.IndexInfo] | None:
        """The last saved index brought up to date by removing and adding only what changed since it was built
        (adding 10 images to a large collection must not retrain or re-read everything); None → rebuild."""
        if info is None or info.built_at is None:
            return None
        started = time.time()
        current = np.fromiter((r[0] for r in self.conn.execute("SELECT image_id FROM vectors")), dtype=np.int64)
        if not vector_index.can_update(info, len(current), self.dim, self.vector_dtype == np.float16):
            return None
        index = vector_index.load_latest(self.directory)
        if index is None:
            return None
        held = vector_index.stored_ids(index)
        # rows touched since the build (a superset: a second of slack for clock granularity) get their vector again
        changed = np.fromiter((r[0] for r in self.conn.execute(
            "SELECT v.image_id FROM vectors v JOIN images i ON i.id = v.image_id WHERE i.updated_at >= ?",
            (info.built_at - 1.0,))), dtype=np.int64)
        stale = np.union1d(np.setdiff1d(held, current), np.intersect1d(changed, held))
        fresh = np.union1d(np.setdiff1d(current, held), changed)
        if len(stale):
            index.remove_ids(stale)
        if len(fresh):
            ids, vecs = self.vectors(fresh.tolist())
            index.add_with_ids(vecs, ids)
        if index.ntotal != len(current):
            return None
        info.ntotal, info.built_at = int(index.ntotal), started
        return index, info

    def index_info(self) -> vector_index.IndexInfo | None:
        """How the current index was built: factory string, nprobe, measured recall@10, bytes per vector."""
        return vector_index.IndexInfo.from_json(catalog.get_meta(self.conn, "index_info"))

    # ------------------------------------------------------------------ writing (used by sync and the app)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic batch of catalog writes that moves the generation when vectors change."""
        with self.lock, _transaction(self.conn) as conn:
            yield conn

    def bump_generation(self, conn: sqlite3.Connection) -> None:
        catalog.set_meta(conn, "generation", int(catalog.get_meta(conn, "generation") or 0) + 1)

    def add_rows(self, rows: Sequence[NewRow], vectors: np.ndarray | None = None) -> list[int]:
        """One transaction: upsert rows by path, store vectors[i] for 'indexed' rows; returns the row ids.

        Minimal stand-in written on branch wt-bench for the benchmark; the "house" helper's version replaces it."""
        now, ids = time.time(), []
        with self.transaction() as conn:
            for i, r in enumerate(rows):
                image_id = int(conn.execute(
                    """INSERT INTO images(path, hash, size, mtime_ns, width, height, status, reason, duplicate_of,
                                          added_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(path) DO UPDATE SET hash=excluded.hash, size=excluded.size,
                           mtime_ns=excluded.mtime_ns, width=excluded.width, height=excluded.height,
                           status=excluded.status, reason=excluded.reason, duplicate_of=excluded.duplicate_of,
                           updated_at=excluded.updated_at RETURNING id""",
                    (r.path, r.hash, r.size, r.mtime_ns, r.width, r.height, r.status, r.reason, r.duplicate_of, now,
                     now)).fetchone()[0])
                ids.append(image_id)
                if r.status == "indexed" and vectors is not None:
                    conn.execute("INSERT OR REPLACE INTO vectors(image_id, vec) VALUES(?, ?)",
                                 (image_id, self.encode_vector(vectors[i])))
                else:
                    conn.execute("DELETE FROM vectors WHERE image_id = ?", (image_id,))
            self.bump_generation(conn)
        return ids

    def remove(self, ids: Sequence[int]) -> int:
        """Forget images (rows and vectors); a removed original hands its vector to its first duplicate."""
        with self.transaction() as conn:
            removed = remove_rows(conn, [int(i) for i in ids])
            if removed:
                self.bump_generation(conn)
        return removed


def remove_rows(conn: sqlite3.Connection, ids: list[int]) -> int:
    """Delete rows inside an open transaction, promoting a duplicate of each removed indexed original."""
    removed = 0
    for image_id in ids:
        row = conn.execute("SELECT status FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            continue
        if row["status"] == "indexed":
            promote_heir(conn, image_id)
        conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
        removed += 1
    return removed


def promote_heir(conn: sqlite3.Connection, image_id: int) -> int | None:
    """An indexed original is going away or changing: its first duplicate becomes indexed with the same vector."""
    heir = conn.execute("SELECT id FROM images WHERE duplicate_of = ? AND status = 'duplicate' ORDER BY id LIMIT 1",
                        (image_id,)).fetchone()
    if heir is None:
        return None
    conn.execute("INSERT OR REPLACE INTO vectors(image_id, vec) SELECT ?, vec FROM vectors WHERE image_id = ?",
                 (heir[0], image_id))
    conn.execute("UPDATE images SET status = 'indexed', duplicate_of = NULL, updated_at = ? WHERE id = ?",
                 (time.time(), heir[0]))
    conn.execute("UPDATE images SET duplicate_of = ? WHERE duplicate_of = ?", (heir[0], image_id))
    return int(heir[0])


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
