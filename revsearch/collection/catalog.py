"""The SQLite catalog of a collection: schema, migrations and the metadata table.

Every file the collection has seen has a row here (indexed, skipped with a reason, or duplicate of another row);
vectors live in the same database so a batch of rows and its vectors commit together — a killed run never leaves a
row without its vector or the other way round.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Mapping, Sequence

from revsearch.errors import RevsearchError

CATALOG_NAME = "catalog.sqlite"

# Append-only: each entry upgrades the schema by one version and is a list of single SQL statements, run one by one
# (never split on ";", which may appear inside a statement). Never edit a released entry.
MIGRATIONS: list[list[str]] = [
    # 1: images, their vectors, and collection metadata
    [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE images (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        hash TEXT,
        size INTEGER,
        mtime_ns INTEGER,
        width INTEGER,
        height INTEGER,
        status TEXT NOT NULL CHECK (status IN ('indexed', 'skipped', 'duplicate')),
        reason TEXT,
        duplicate_of INTEGER REFERENCES images(id) ON DELETE SET NULL,
        added_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
        """CREATE INDEX images_hash ON images(hash)""",
        """CREATE INDEX images_status ON images(status)""",
        """CREATE TABLE vectors (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        vec BLOB NOT NULL
    )""",
    ],
    # 2: exploration — clusters and their members, labels with history, the 2-D map (revsearch/clusters.py,
    #    labels.py, projection.py). `hash` columns remember the content a row was computed from, so an image whose
    #    file changed in place is re-assigned / re-placed instead of keeping a stale position.
    [
        """CREATE TABLE clusters (
        id INTEGER PRIMARY KEY,
        centroid BLOB NOT NULL,
        name TEXT,
        created_at REAL NOT NULL
    )""",
        """CREATE TABLE cluster_members (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        similarity REAL NOT NULL,
        hash TEXT
    )""",
        """CREATE INDEX cluster_members_cluster ON cluster_members(cluster_id, similarity)""",
        """CREATE TABLE labels (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        source TEXT NOT NULL,
        confidence REAL,
        updated_at REAL NOT NULL
    )""",
        """CREATE INDEX labels_label ON labels(label)""",
        """CREATE TABLE label_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        event TEXT NOT NULL,
        old TEXT,
        new TEXT,
        source TEXT NOT NULL
    )""",
        """CREATE TABLE projection (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        x REAL NOT NULL,
        y REAL NOT NULL,
        hash TEXT,
        fitted INTEGER NOT NULL
    )""",
    ],
    # 3: undoable labelling actions (revsearch/collection/label_actions.py). Only new tables that reference tables of
    # step 2, so this step may sit at any position after it. One `label_actions` row per labelling action; per image
    # and layer ('label' = the label in `labels`, 'beneath' = the one a cluster name covers) the state before and
    # after in `label_changes`; cluster names it changed in `label_action_clusters`. `labels_beneath` holds what a
    # cluster label covers (an accepted suggestion), restored when the cluster's name goes.
    [
        """CREATE TABLE label_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        description TEXT NOT NULL,
        images INTEGER NOT NULL,
        undone_at REAL,
        undo_of INTEGER REFERENCES label_actions(id) ON DELETE SET NULL
    )""",
        """CREATE INDEX label_actions_open ON label_actions(undone_at, id)""",
        """CREATE TABLE label_changes (
        action_id INTEGER NOT NULL REFERENCES label_actions(id) ON DELETE CASCADE,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        layer TEXT NOT NULL CHECK (layer IN ('label', 'beneath')),
        old_label TEXT,
        old_source TEXT,
        old_confidence REAL,
        new_label TEXT,
        new_source TEXT,
        new_confidence REAL,
        PRIMARY KEY (action_id, image_id, layer)
    )""",
        """CREATE TABLE label_action_clusters (
        action_id INTEGER NOT NULL REFERENCES label_actions(id) ON DELETE CASCADE,
        cluster_id INTEGER NOT NULL,
        old_name TEXT,
        new_name TEXT,
        PRIMARY KEY (action_id, cluster_id)
    )""",
        """CREATE TABLE labels_beneath (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        source TEXT NOT NULL,
        confidence REAL
    )""",
    ],
    # 4: pairs a person marked "not a duplicate" on the Duplicates page (revsearch/collection/duplicate_store.py);
    #    a < b, and a mark goes with either image.
    [
        """CREATE TABLE not_duplicates (
        a INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        b INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        PRIMARY KEY (a, b),
        CHECK (a < b)
    )""",
    ],
    # 5: missing is not deleted — a file no longer found keeps its row (id, labels, cluster membership) with the time
    #    it went missing; its vector is parked outside `vectors` (which holds exactly what search sees) until the
    #    file is found again, at its path or by content hash at a new one. `index --prune` deletes such rows.
    [
        """ALTER TABLE images ADD COLUMN missing_since REAL""",
        """CREATE INDEX images_missing ON images(missing_since)""",
        """CREATE TABLE parked_vectors (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        vec BLOB NOT NULL
    )""",
    ],
    # 6: dataset splits and exclusions (revsearch/collection/split_store.py, exclusion_store.py). Only new tables that
    # reference `images`, so this step may sit at any position after step 1. `splits`: an image's split, its
    # near-copy group (`grp`, the smallest member id) and the content hash it was assigned with (a file changed in
    # place is assigned again). `exclusions`: images left out of every export, why and when; each exclude / include
    # is one undoable `exclusion_actions` row with the before/after of every image in `exclusion_changes`.
    [
        """CREATE TABLE splits (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        grp INTEGER NOT NULL,
        hash TEXT,
        assigned_at REAL NOT NULL
    )""",
        """CREATE INDEX splits_grp ON splits(grp)""",
        """CREATE TABLE exclusions (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        reason TEXT NOT NULL,
        at REAL NOT NULL
    )""",
        """CREATE TABLE exclusion_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        description TEXT NOT NULL,
        images INTEGER NOT NULL,
        undone_at REAL,
        undo_of INTEGER REFERENCES exclusion_actions(id) ON DELETE SET NULL
    )""",
        """CREATE TABLE exclusion_changes (
        action_id INTEGER NOT NULL REFERENCES exclusion_actions(id) ON DELETE CASCADE,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        old_reason TEXT,
        old_at REAL,
        new_reason TEXT,
        new_at REAL,
        PRIMARY KEY (action_id, image_id)
    )""",
    ],
    # 7: who did what (issue 20): every labelling action and history entry records its user, every label who set it
    # (`labelled_by`), and a label change who had set the label before and after it (undo puts that back; `old_by`
    # finds "your label was changed by someone else"). Only columns and indexes on tables of steps 2 and 3, so this
    # step may sit at any position after them.
    [
        """ALTER TABLE label_actions ADD COLUMN user TEXT""",
        """ALTER TABLE label_history ADD COLUMN user TEXT""",
        """ALTER TABLE labels ADD COLUMN labelled_by TEXT""",
        """ALTER TABLE labels_beneath ADD COLUMN labelled_by TEXT""",
        """ALTER TABLE label_changes ADD COLUMN old_by TEXT""",
        """ALTER TABLE label_changes ADD COLUMN new_by TEXT""",
        """CREATE INDEX label_changes_image ON label_changes(image_id)""",
        """CREATE INDEX label_changes_old_by ON label_changes(old_by) WHERE old_by IS NOT NULL""",
    ],
    # 8: audit (revsearch/collection/audit_store.py): pixel quality measures taken while indexing (revsearch/indexing/
    # pixel_measures.py; `hash` and `version` say which content and which definition they describe), and labels a
    # person confirmed as right (never reported as a label issue again while the image keeps that label). Only new
    # tables that reference `images`: this step may sit at any position after step 1.
    [
        """CREATE TABLE pixel_measures (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        hash TEXT,
        version INTEGER NOT NULL,
        vals BLOB NOT NULL
    )""",
        """CREATE TABLE label_confirmations (
        image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


BUSY_TIMEOUT = 30.0  # seconds a statement waits for another process's write lock before SQLite gives up
_RETRIES = 5


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """Open the catalog in WAL mode with foreign keys on; usable from the app's worker threads.

    Several processes share one catalog (app tabs, `index`, `label`, `search`): every write is BEGIN IMMEDIATE and
    waits up to BUSY_TIMEOUT for the lock. Opening can still meet SQLITE_BUSY where SQLite does not wait (switching
    to WAL, recovering another process's WAL), so it is retried. `read_only` (or a catalog file without write
    permission) opens with `mode=ro`: every read works, writes are refused by SQLite."""
    if not read_only and not os.access(path, os.W_OK) and path.exists():
        read_only = True
    for attempt in range(_RETRIES):
        try:
            if read_only:
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT,
                                       check_same_thread=False, isolation_level=None)
            else:
                conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, check_same_thread=False,
                                       isolation_level=None)
            conn.row_factory = sqlite3.Row
            if not read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == _RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock; retrying later succeeds."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the catalog up to SCHEMA_VERSION, one transaction per step; refuse catalogs from a newer revsearch."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise RevsearchError(
            f"this collection has catalog schema v{current}, newer than this revsearch understands "
            f"(v{SCHEMA_VERSION}); upgrade revsearch"
        )
    for version in range(current, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) > version:  # another process migrated while this one waited for the lock
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (key, str(value)))


def set_many(conn: sqlite3.Connection, values: Mapping[str, object]) -> None:
    for key, value in values.items():
        set_meta(conn, key, value)


def fetch(coll, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
    """All rows of one read of a collection's catalog, under its lock (the connection is shared by app threads)."""
    with coll.lock:
        return coll.conn.execute(sql, tuple(params)).fetchall()


def chunks(ids: Sequence[int], size: int = 900) -> list[list[int]]:
    """Id lists cut below SQLite's bound-parameter limit, for `IN (…)` queries."""
    ids = [int(i) for i in ids]
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))
