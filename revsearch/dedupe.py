"""Acting on duplicate groups: "not a duplicate", the list of redundant copies (CSV), moving them aside, and undo.

Nothing here deletes a file. The anchor of each group (its best-connected member) is kept; every other member is a
redundant copy. Moving copies puts them in a folder the person chose (never overwriting anything there), forgets them
in the catalog, and writes a move record (JSON, atomically) into the collection holding what undo needs to put
everything back: the original and new paths, the catalog facts, the vector and the label. Undo moves the files back
(never over a file that appeared at the original path meanwhile) and restores rows, vectors, labels and clusters —
no re-embedding.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from revsearch import clusters, labels
from revsearch.collection import Collection, NewRow, duplicate_store
from revsearch.errors import RevsearchError
from revsearch.near_duplicates import DuplicateGroup
from revsearch.safe_write import atomic_output

MOVES_DIR = "moves"
RECORD_VERSION = 1
CSV_FIELDS = ["group", "keep", "redundant", "similarity", "exact"]


@dataclass(frozen=True)
class Redundant:
    """One redundant copy: the member of a group that is not its anchor."""

    group: int
    keep: str  # the anchor's path
    id: int
    path: str
    score: float
    exact: bool


@dataclass(frozen=True)
class MoveRecord:
    """One move of redundant copies, as written to `moves/<stamp>.json` (what undo reads back)."""

    path: Path
    destination: str
    at: float
    entries: list[dict]
    failed: list[tuple[str, str]]  # (path, why) of copies that could not be moved

    @property
    def moved(self) -> int:
        return len(self.entries)


def not_a_duplicate(coll: Collection, image_id: int, group: DuplicateGroup) -> int:
    """Mark `image_id` as not a duplicate of the rest of its group (its exact copies stay with it)."""
    member = next((m for m in group.members if m.id == int(image_id)), None)
    if member is None:
        raise RevsearchError(f"image {image_id} is not in duplicate group {group.id + 1}")
    if member.exact:
        raise RevsearchError("an exact copy has the same content as its original; it cannot be “not a duplicate”")
    return duplicate_store.mark(coll, [(member.id, m.id) for m in group.members if m.id != member.id])


def redundant(groups: Iterable[DuplicateGroup]) -> list[Redundant]:
    """Every member but the anchor of each group (the anchor is the copy to keep)."""
    return [Redundant(g.id, g.members[0].path, m.id, m.path, m.score, m.exact)
            for g in groups for m in g.members[1:]]


def redundant_csv(groups: Iterable[DuplicateGroup]) -> str:
    """The redundant copies as CSV: group number, the copy kept, the redundant copy, its similarity, exact or not."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    for r in redundant(groups):
        writer.writerow([r.group + 1, r.keep, r.path, f"{r.score:.6f}", "yes" if r.exact else "no"])
    return buf.getvalue()


def move_redundant(coll: Collection, groups: Sequence[DuplicateGroup], destination: Path | str) -> MoveRecord:
    """Move every redundant copy into `destination` (created if needed), forget them in the catalog, record it."""
    dest = Path(destination).expanduser()
    if not dest.is_absolute():
        raise RevsearchError(f"give the full path of the folder to move the copies to, not {str(destination)!r}")
    if dest.exists() and not dest.is_dir():
        raise RevsearchError(f"{dest} is a file, not a folder")
    copies = redundant(groups)
    if not copies:
        raise RevsearchError("there are no redundant copies to move")
    dest.mkdir(parents=True, exist_ok=True)
    rows = coll.rows_by_id([c.id for c in copies])
    vector_ids, vectors = coll.vectors([c.id for c in copies])
    vector_of = {int(i): v for i, v in zip(vector_ids, vectors)}
    label_of = labels.labels(coll)
    entries, failed = [], []
    for copy in copies:
        row = rows.get(copy.id)
        if row is None:
            continue
        source = Path(row.path)
        target = _free_name(dest, source.name)
        try:
            shutil.move(source, target)
        except OSError as exc:
            failed.append((row.path, exc.strerror or str(exc)))
            continue
        vector = vector_of.get(row.id)
        entries.append({"from": row.path, "to": str(target), "id": row.id, "hash": row.hash, "size": row.size,
                        "mtime_ns": row.mtime_ns, "width": row.width, "height": row.height, "status": row.status,
                        "duplicate_of": row.duplicate_of, "label": label_of.get(row.id),
                        "vector": None if vector is None else base64.b64encode(
                            np.asarray(vector, np.float32).tobytes()).decode("ascii")})
    record = MoveRecord(coll.directory / MOVES_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns()}.json",
                        str(dest), time.time(), entries, failed)
    if entries:
        with atomic_output(record.path) as fh:
            json.dump({"version": RECORD_VERSION, "destination": record.destination, "at": record.at,
                       "entries": entries, "failed": failed}, fh, indent=1)
        coll.remove([e["id"] for e in entries])
    return record


def last_move(coll: Collection) -> MoveRecord | None:
    """The most recent move that has not been undone, or None."""
    folder = coll.directory / MOVES_DIR
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not found:
        return None
    data = json.loads(found[-1].read_text(encoding="utf-8"))
    if data.get("version") != RECORD_VERSION:
        raise RevsearchError(f"{found[-1]} was written by another revsearch version (v{data.get('version')})")
    return MoveRecord(found[-1], data["destination"], float(data["at"]), list(data["entries"]),
                      [tuple(f) for f in data.get("failed", [])])


def undo_move(coll: Collection, record: MoveRecord, user: str | None = None) -> tuple[int, list[tuple[str, str]]]:
    """Move the copies of `record` back and restore their catalog rows (their labels given back by `user`);
    (restored, [(path, why not)])."""
    restored: list[dict] = []
    problems: list[tuple[str, str]] = []
    for entry in record.entries:
        source, original = Path(entry["to"]), Path(entry["from"])
        if original.exists():
            problems.append((entry["from"], "a file is at that path again; nothing was overwritten"))
            continue
        if not source.exists():
            problems.append((entry["to"], "no longer in the folder it was moved to"))
            continue
        try:
            original.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, original)
        except OSError as exc:
            problems.append((entry["to"], exc.strerror or str(exc)))
            continue
        restored.append(entry)
    _restore_rows(coll, restored, user)
    if problems:  # keep what could not be restored, so a second undo can try again
        remaining = [e for e in record.entries if e not in restored]
        with atomic_output(record.path, force=True) as fh:
            json.dump({"version": RECORD_VERSION, "destination": record.destination, "at": record.at,
                       "entries": remaining, "failed": record.failed}, fh, indent=1)
    else:
        record.path.unlink(missing_ok=True)
    return len(restored), problems


def _restore_rows(coll: Collection, entries: list[dict], user: str | None) -> None:
    """Rows and vectors back (originals before their exact copies), then labels and cluster membership."""
    if not entries:
        return
    live = set(coll.rows_by_id([e["duplicate_of"] for e in entries if e["duplicate_of"] is not None]))
    indexed = [e for e in entries if e["status"] == "indexed" and e["vector"]]
    new_ids: dict[int, int] = {}
    if indexed:
        vectors = np.stack([np.frombuffer(base64.b64decode(e["vector"]), np.float32) for e in indexed])
        ids = coll.add_rows([_row(e, None, set()) for e in indexed], vectors)
        new_ids.update({e["id"]: i for e, i in zip(indexed, ids)})
    others = [e for e in entries if e not in indexed]
    if others:
        ids = coll.add_rows([_row(e, new_ids.get(e["duplicate_of"], e["duplicate_of"]), live | set(new_ids.values()))
                             for e in others])
        new_ids.update({e["id"]: i for e, i in zip(others, ids)})
    for label in {e["label"] for e in entries if e["label"]}:
        labels.label_images(coll, [new_ids[e["id"]] for e in entries if e["label"] == label], label, user=user)
    if clusters.clustering(coll, n_representatives=0, n_outliers=0) is not None:
        clusters.assign_new(coll)


def _row(entry: dict, duplicate_of: int | None, live: set[int]) -> NewRow:
    """The catalog row of a restored copy; an exact copy whose original left meanwhile keeps no link to it."""
    return NewRow(entry["from"], entry["hash"], entry["size"], entry["mtime_ns"], entry["width"], entry["height"],
                  entry["status"], None, duplicate_of if duplicate_of in live else None)


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-2.ext`, `-3`… when taken: a move never replaces a file."""
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while target.exists():
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target
