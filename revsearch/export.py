"""Export the labelled collection: ImageFolder (copy or symlink), CSV, JSON, or a zip in memory for a download.

Exports read the originals and write only under the output; they never modify, move or delete an original. Images
considered: every indexed image and every exact copy (status 'duplicate'); skipped files are never exported.

ImageFolder: `OUT/<label>/<file name>`. Label names are made safe as folder names (path separators, control and
Windows-invalid characters replaced; `.`/`..`, reserved names and over-long names handled); two labels that would
land in the same folder (`a/b` and `a_b`, or `Shirt` and `shirt` on a case-insensitive disk) get distinct folders.
Two images with the same file name under one label become `name.jpg`, `name-1.jpg`, … Unlabelled images are left
out (`unlabelled="skip"`) or go to `OUT/_unlabelled/` (`unlabelled="folder"`). OUT must be empty or not exist, so
a second export never mixes with the first.

CSV columns: `path,label,cluster,confidence,source,labelled_by` — path absolute; label empty when unlabelled;
confidence is the accepted suggestion's confidence, 1 for manual/cluster/import labels, empty when unlabelled;
labelled_by is who gave the label (a user of the app, the CLI's `--as`, or the OS user; empty for labels made before
revsearch recorded it).

Public API:
    export_imagefolder(coll, out, link=False, unlabelled="skip", progress=None) -> ExportReport
    export_csv(coll, out, include_unlabelled=True, force=False) -> ExportReport   (out: path or text file object)
    export_json(coll, out, include_unlabelled=True, force=False) -> ExportReport
    export_zip(coll, unlabelled="skip", progress=None) -> (bytes, ExportReport)  ImageFolder layout + labels.csv
    export_rows(coll, include_unlabelled=True) -> list[ExportRow]
    unreadable_originals(coll, include_unlabelled=False) -> list[str]       what an export would have to leave out
    folder_names(labels) -> dict[str, str]                                  label -> safe, distinct folder name
"""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Iterable, Iterator

from revsearch import clusters as clusters_mod
from revsearch import labels as labels_mod
from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.files import is_windows_reserved, safe_relpath, unique_path, with_suffix_n
from revsearch.progress import Progress, report
from revsearch.safe_write import DiskFull, atomic_output, copy_atomic, disk_full, is_disk_full

UNLABELLED_DIR = "_unlabelled"
UNLABELLED_CHOICES = ("skip", "folder")
CSV_COLUMNS = ("path", "label", "cluster", "confidence", "source", "labelled_by")


@dataclass(frozen=True)
class ExportRow:
    id: int
    path: str
    label: str | None
    cluster: int | None
    confidence: float | None
    source: str | None
    labelled_by: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExportReport:
    out: str
    format: str
    written: int = 0  # files (imagefolder/zip) or rows (csv/json)
    labelled: int = 0
    unlabelled_skipped: int = 0
    unlabelled_written: int = 0
    renamed: int = 0  # files written under another name because the name was taken
    missing: list[str] = field(default_factory=list)  # originals that could not be read
    folders: dict[str, str] = field(default_factory=dict)  # label -> folder name (imagefolder/zip)

    def as_dict(self) -> dict:
        return asdict(self)


def export_rows(coll: Collection, include_unlabelled: bool = True) -> list[ExportRow]:
    """One row per indexed image and exact copy, in path order, with its label and cluster."""
    assign = clusters_mod.assignments(coll)
    with coll.reading():
        rows = sorted((r for r in coll.rows() if r.status in ("indexed", "duplicate") and not r.missing),
                      key=lambda r: r.path)
        labelled = {lr.id: lr for lr in labels_mod.label_rows(coll)}
    out = []
    for r in rows:
        lr = labelled.get(r.id)
        if lr is None and not include_unlabelled:
            continue
        cluster = assign.get(r.id, assign.get(r.duplicate_of) if r.duplicate_of is not None else None)
        confidence = (lr.confidence if lr.confidence is not None else 1.0) if lr is not None else None
        out.append(ExportRow(r.id, r.path, lr.label if lr else None, cluster, confidence, lr.source if lr else None,
                             lr.labelled_by if lr else None))
    return out


def unreadable_originals(coll: Collection, include_unlabelled: bool = False) -> list[str]:
    """Originals an export would have to leave out because they cannot be read now (moved, unplugged, no access).
    Without the unlabelled images only the labelled rows are read (a page shows this for a million images)."""
    if include_unlabelled:
        paths = [r.path for r in export_rows(coll, True)]
    else:
        rows = coll.rows_by_id(list(labels_mod.labels(coll))).values()
        paths = sorted(r.path for r in rows if r.status in ("indexed", "duplicate") and not r.missing)
    return [p for p in paths if not os.access(p, os.R_OK)]


# ---------------------------------------------------------------------------------------------------- names


def _folder_name(label: str) -> str:
    """One safe path component for a label (never empty, '.', '..', or a Windows device name)."""
    text = unicodedata.normalize("NFC", label).replace("/", "_").replace("\\", "_")
    try:
        name = str(safe_relpath(text))
    except ValueError:
        name = "_"
    name = name.replace("/", "_").strip(" .") or "_"
    if is_windows_reserved(name):
        name = f"_{name}"
    if name == UNLABELLED_DIR:
        name = f"{UNLABELLED_DIR}-label"
    return name


def folder_names(labels: Iterable[str]) -> dict[str, str]:
    """label -> folder name, distinct even on case-insensitive file systems (suffix -2, -3 … on a clash)."""
    out: dict[str, str] = {}
    taken = {UNLABELLED_DIR.casefold()}
    for label in sorted(set(labels)):
        base = _folder_name(label)
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        out[label] = name
    return out


def _prepare_out(out: Path) -> Path:
    out = Path(out).expanduser()
    if out.exists():
        if not out.is_dir():
            raise RevsearchError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise RevsearchError(f"{out} is not empty; export into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    return out.resolve()


def _check_unlabelled(unlabelled: str) -> None:
    if unlabelled not in UNLABELLED_CHOICES:
        raise RevsearchError(f"unlabelled must be one of {', '.join(UNLABELLED_CHOICES)}, not {unlabelled!r}")


# ---------------------------------------------------------------------------------------------------- imagefolder


def export_imagefolder(coll: Collection, out: Path | str, link: bool = False, unlabelled: str = "skip",
                       progress: Progress | None = None) -> ExportReport:
    """Write OUT/<label>/<file> copies (or absolute symlinks with `link`) of the labelled images."""
    _check_unlabelled(unlabelled)
    rows = export_rows(coll)
    created = not Path(out).expanduser().exists()
    out_dir = _prepare_out(Path(out))
    names = folder_names(r.label for r in rows if r.label is not None)
    result = ExportReport(str(out_dir), "imagefolder", folders=names)
    made: list[Path] = []
    todo = []
    for r in rows:
        if r.label is None:
            if unlabelled == "skip":
                result.unlabelled_skipped += 1
                continue
            todo.append((r, UNLABELLED_DIR))
        else:
            todo.append((r, names[r.label]))
    for done, (r, folder) in enumerate(todo, 1):
        source = Path(r.path)
        if not source.is_file():
            result.missing.append(r.path)
            continue
        file_name = _safe_file_name(source.name)
        target = unique_path(out_dir, PurePosixPath(folder, file_name))
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.name != file_name:
            result.renamed += 1
        try:
            if link:
                os.symlink(source, target)
            else:
                copy_atomic(source, target)  # a killed export never leaves a truncated copy behind
        except DiskFull:
            _remove_partial(out_dir, made, created)
            raise
        except OSError as exc:
            target.unlink(missing_ok=True)
            if is_disk_full(exc):
                _remove_partial(out_dir, made, created)
                raise disk_full(out_dir, exc) from exc
            result.missing.append(f"{r.path} ({exc.strerror or exc})")
            continue
        made.append(target)
        result.written += 1
        if r.label is None:
            result.unlabelled_written += 1
        else:
            result.labelled += 1
        report(progress, done, len(todo), file_name)
    return result


def _remove_partial(out_dir: Path, made: list[Path], created: bool) -> None:
    """Undo an export cut short: the files it wrote, the folders it made, and OUT itself when it made it."""
    for path in made:
        path.unlink(missing_ok=True)
    for folder in sorted({p.parent for p in made} | {out_dir}, key=lambda p: len(p.parts), reverse=True):
        if folder != out_dir or created:
            try:
                folder.rmdir()
            except OSError:
                pass


def _safe_file_name(name: str) -> str:
    try:
        return safe_relpath(name).name
    except ValueError:
        return "image"


# ---------------------------------------------------------------------------------------------------- csv / json


@contextmanager
def _text_output(out: Path | str | IO[str], force: bool) -> Iterator[IO[str]]:
    """A stream as given, or a file path written atomically (refused if it exists, unless `force`)."""
    if hasattr(out, "write"):
        yield out  # type: ignore[misc]
        return
    with atomic_output(out, force=force, mode="w", newline="", encoding="utf-8") as fh:
        yield fh


def export_csv(coll: Collection, out: Path | str | IO[str], include_unlabelled: bool = True,
               force: bool = False) -> ExportReport:
    """`path,label,cluster,confidence,source,labelled_by` rows; an existing file is replaced only with `force`."""
    rows = export_rows(coll, include_unlabelled)
    with _text_output(out, force) as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow(_csv_row(r.path, r))
    return _row_report(out, "csv", rows)


def _csv_row(path: str, r: ExportRow) -> list:
    return [path, r.label or "", "" if r.cluster is None else r.cluster,
            "" if r.confidence is None else f"{r.confidence:.4f}", r.source or "", r.labelled_by or ""]


def export_json(coll: Collection, out: Path | str | IO[str], include_unlabelled: bool = True,
                force: bool = False) -> ExportReport:
    """{"collection", "labels": {label: count}, "clusters": [{id, name, size}], "images": [rows]}."""
    rows = export_rows(coll, include_unlabelled)
    clustering = clusters_mod.clustering(coll, n_representatives=0, n_outliers=0)
    counts: dict[str, int] = {}
    for r in rows:
        if r.label is not None:
            counts[r.label] = counts.get(r.label, 0) + 1
    data = {
        "collection": str(coll.directory),
        "labels": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "clusters": [{"id": c.id, "name": c.name, "size": c.size} for c in clustering.clusters] if clustering else [],
        "images": [{"path": r.path, "label": r.label, "cluster": r.cluster, "confidence": r.confidence,
                    "source": r.source, "labelled_by": r.labelled_by} for r in rows],
    }
    with _text_output(out, force) as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    return _row_report(out, "json", rows)


def _row_report(out, fmt: str, rows: list[ExportRow]) -> ExportReport:
    labelled = sum(1 for r in rows if r.label is not None)
    return ExportReport(str(out) if not hasattr(out, "write") else "<stream>", fmt, len(rows), labelled,
                        unlabelled_written=len(rows) - labelled)


# ---------------------------------------------------------------------------------------------------- zip


def export_zip(coll: Collection, unlabelled: str = "skip", progress: Progress | None = None,
               include_csv: bool = True) -> tuple[bytes, ExportReport]:
    """The ImageFolder layout (plus `labels.csv` with paths relative to the zip root) as zip bytes, for a download,
    and a report naming every original that could not be read (it is left out of the zip, never silently).

    JPEG/PNG originals are already compressed, so members are stored, not deflated.
    """
    _check_unlabelled(unlabelled)
    rows = export_rows(coll)
    names = folder_names(r.label for r in rows if r.label is not None)
    result = ExportReport("<zip>", "zip", folders=names)
    result.unlabelled_skipped = sum(1 for r in rows if r.label is None and unlabelled == "skip")
    buf = io.BytesIO()
    used: set[str] = set()
    listing = []
    todo = [r for r in rows if r.label is not None or unlabelled == "folder"]
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for done, r in enumerate(todo, 1):
            folder = names[r.label] if r.label is not None else UNLABELLED_DIR
            name = _unique_member(used, folder, _safe_file_name(Path(r.path).name))
            try:
                zf.write(r.path, name)
            except OSError as exc:
                used.discard(name.casefold())
                result.missing.append(f"{r.path} ({exc.strerror or exc})")
                continue
            listing.append((name, r))
            result.written += 1
            if r.label is None:
                result.unlabelled_written += 1
            else:
                result.labelled += 1
            report(progress, done, len(todo), name)
        if include_csv:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(CSV_COLUMNS)
            for name, r in listing:
                writer.writerow(_csv_row(name, r))
            zf.writestr("labels.csv", text.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue(), result


def _unique_member(used: set[str], folder: str, file_name: str) -> str:
    """`folder/name.jpg`, or `folder/name-1.jpg`, … when a member of that name (any case) is already in the zip."""
    name, n = f"{folder}/{file_name}", 0
    while name.casefold() in used:
        n += 1
        name = f"{folder}/{with_suffix_n(file_name, n)}"
    used.add(name.casefold())
    return name
