"""Export the labelled collection: ImageFolder (copy or symlink), CSV, JSON, or a zip in memory for a download.

Exports read the originals and write only under the output; they never modify, move or delete an original. Images
considered: every indexed image and every exact copy (status 'duplicate'); skipped files are never exported, nor are
images a person excluded (revsearch/exclusions.py; the dataset card lists them with their reasons).

Splits (revsearch/splits.py): when the collection has a split, every export first assigns the images added since (as
`revsearch split` would: earlier images keep theirs), ImageFolder and zip go to `OUT/<split>/<label>/<file name>` —
the layout torchvision's ImageFolder (one root per split), Hugging Face `imagefolder`, YOLO classification and
FiftyOne read — and CSV / JSON fill their `split` column. Without a split the layout stays `OUT/<label>/<file name>`
and `split` is empty. Every export carries a dataset card (revsearch/card.py: where it goes is said there).

ImageFolder: `OUT/<label>/<file name>`. Label names are made safe as folder names (path separators, control and
Windows-invalid characters replaced; `.`/`..`, reserved names and over-long names handled); two labels that would
land in the same folder (`a/b` and `a_b`, or `Shirt` and `shirt` on a case-insensitive disk) get distinct folders.
Two images with the same file name under one label become `name.jpg`, `name-1.jpg`, … Unlabelled images are left
out (`unlabelled="skip"`) or go to `OUT/_unlabelled/` (`unlabelled="folder"`). OUT must be empty or not exist, so
a second export never mixes with the first.

CSV columns: `path,label,cluster,confidence,source,split,labelled_by` — path absolute; label empty when unlabelled;
confidence is the accepted suggestion's confidence, 1 for manual/cluster/import labels, empty when unlabelled; split
empty without a split; labelled_by is who gave the label (a user of the app, the CLI's `--as`, or the OS user; empty
for labels made before revsearch recorded it).

Every export function takes `audit`: a plain dict for the card's audit section (revsearch/card.py).

Public API:
    export_imagefolder(coll, out, link=False, unlabelled="skip", progress=None, audit=None) -> ExportReport
    export_csv(coll, out, include_unlabelled=True, force=False, audit=None) -> ExportReport (out: path or text file)
    export_json(coll, out, include_unlabelled=True, force=False, audit=None) -> ExportReport
    export_zip(coll, unlabelled="skip", progress=None, audit=None) -> (bytes, ExportReport)  + labels.csv and card
    export_rows(coll, include_unlabelled=True) -> list[ExportRow]          (excluded images left out)
    dataset_card(coll, include_unlabelled=True, audit=None) -> dict        the card of a CSV / JSON export now
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
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Iterable, Iterator, Mapping

from revsearch import card, exclusions, splits
from revsearch import clusters as clusters_mod
from revsearch import labels as labels_mod
from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.files import is_windows_reserved, safe_relpath, unique_path, with_suffix_n
from revsearch.progress import Progress, report
from revsearch.safe_write import DiskFull, atomic_output, copy_atomic, disk_full, is_disk_full

UNLABELLED_DIR = "_unlabelled"
UNLABELLED_CHOICES = ("skip", "folder")
UNASSIGNED_DIR = "_unassigned"  # split export: images added while it ran, after their split was assigned
CSV_COLUMNS = ("path", "label", "cluster", "confidence", "source", "split", "labelled_by")
RESERVED = (UNLABELLED_DIR, card.README, card.DATA, "labels.csv")  # names a label folder may not take


@dataclass(frozen=True)
class ExportRow:
    id: int
    path: str
    label: str | None
    cluster: int | None
    confidence: float | None
    source: str | None
    split: str | None = None
    labelled_by: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def csv_row(self, path: str) -> list[str]:
        return [path, self.label or "", "" if self.cluster is None else str(self.cluster),
                "" if self.confidence is None else f"{self.confidence:.4f}", self.source or "", self.split or "",
                self.labelled_by or ""]


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
    excluded: int = 0  # images left out because a person excluded them
    split_assigned: int = 0  # images added since the split, assigned to one before this export
    card: list[str] = field(default_factory=list)  # the dataset card's files

    def as_dict(self) -> dict:
        return asdict(self)


def export_rows(coll: Collection, include_unlabelled: bool = True) -> list[ExportRow]:
    """One row per indexed image and exact copy not excluded, in path order, with its label, cluster and split."""
    assign = clusters_mod.assignments(coll)
    with coll.reading():
        rows = sorted((r for r in coll.rows() if r.status in ("indexed", "duplicate") and not r.missing),
                      key=lambda r: r.path)
        labelled = {lr.id: lr for lr in labels_mod.label_rows(coll)}
        left_out = set(exclusions.excluded_ids(coll))
        split_of = splits.split_of(coll)
    out = []
    for r in rows:
        lr = labelled.get(r.id)
        if (lr is None and not include_unlabelled) or r.id in left_out:
            continue
        cluster = assign.get(r.id, assign.get(r.duplicate_of) if r.duplicate_of is not None else None)
        confidence = (lr.confidence if lr.confidence is not None else 1.0) if lr is not None else None
        out.append(ExportRow(r.id, r.path, lr.label if lr else None, cluster, confidence, lr.source if lr else None,
                             split_of.get(r.id), lr.labelled_by if lr else None))
    return out


@dataclass
class _Plan:
    """What an export writes: its rows, and whether they go into split folders."""

    rows: list[ExportRow]
    split: bool
    excluded: int
    assigned: int

    @property
    def layout(self) -> str:
        return "split/label/file" if self.split else "label/file"

    def folder(self, row: ExportRow, folder: str) -> str:
        return f"{row.split or UNASSIGNED_DIR}/{folder}" if self.split else folder

    def report(self, out: str, fmt: str, folders: dict[str, str] | None = None) -> ExportReport:
        return ExportReport(out, fmt, folders=folders or {}, excluded=self.excluded, split_assigned=self.assigned)


def _plan(coll: Collection, include_unlabelled: bool = True) -> _Plan:
    """Assign the images added since the split (when there is one), then read the rows to export."""
    update = splits.update(coll)
    return _Plan(export_rows(coll, include_unlabelled), splits.settings(coll) is not None, exclusions.count(coll),
                 update.assigned if update is not None else 0)


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
    taken = {name.casefold() for name in RESERVED}
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
                       progress: Progress | None = None, audit: Mapping[str, object] | None = None) -> ExportReport:
    """Write OUT/[<split>/]<label>/<file> copies (or absolute symlinks with `link`) of the labelled images, and the
    dataset card (OUT/README.md, OUT/dataset.json)."""
    _check_unlabelled(unlabelled)
    plan = _plan(coll)
    created = not Path(out).expanduser().exists()
    out_dir = _prepare_out(Path(out))
    names = folder_names(r.label for r in plan.rows if r.label is not None)
    result = plan.report(str(out_dir), "imagefolder", names)
    made: list[Path] = []
    todo = []
    for r in plan.rows:
        if r.label is None:
            if unlabelled == "skip":
                result.unlabelled_skipped += 1
                continue
            todo.append((r, plan.folder(r, UNLABELLED_DIR)))
        else:
            todo.append((r, plan.folder(r, names[r.label])))
    written: list[ExportRow] = []
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
        written.append(r)
        _count(result, r)
        report(progress, done, len(todo), file_name)
    try:
        paths = card.write_card(coll, out_dir, written, "imagefolder", plan.layout, audit, result.missing)
    except DiskFull:
        _remove_partial(out_dir, made + list(card.card_paths(out_dir)), created)
        raise
    result.card = [str(p) for p in paths]
    return result


def _count(result: ExportReport, row: ExportRow) -> None:
    result.written += 1
    if row.label is None:
        result.unlabelled_written += 1
    else:
        result.labelled += 1


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


def export_csv(coll: Collection, out: Path | str | IO[str], include_unlabelled: bool = True, force: bool = False,
               audit: Mapping[str, object] | None = None) -> ExportReport:
    """`path,label,cluster,confidence,source,split` rows; an existing file is replaced only with `force`. A file
    gets its dataset card beside it (`<file name>.README.md`, `<file name>.dataset.json`)."""
    plan = _plan(coll, include_unlabelled)
    beside = None if hasattr(out, "write") else card.beside(out, force)
    with _text_output(out, force) as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(r.csv_row(r.path) for r in plan.rows)
    return _row_report(coll, out, "csv", plan, beside, force, audit)


def export_json(coll: Collection, out: Path | str | IO[str], include_unlabelled: bool = True, force: bool = False,
                audit: Mapping[str, object] | None = None) -> ExportReport:
    """{"collection", "labels": {label: count}, "splits": {split: count}, "clusters": [{id, name, size}],
    "images": [rows], "card": {the dataset card}}; a file also gets the card beside it, as a CSV does."""
    plan = _plan(coll, include_unlabelled)
    beside = None if hasattr(out, "write") else card.beside(out, force)
    clustering = clusters_mod.clustering(coll, n_representatives=0, n_outliers=0)
    data = {
        "collection": str(coll.directory),
        "labels": dict(sorted(Counter(r.label for r in plan.rows if r.label is not None).items(),
                              key=lambda kv: (-kv[1], kv[0]))),
        "splits": dict(sorted(Counter(r.split for r in plan.rows if r.split is not None).items())),
        "clusters": [{"id": c.id, "name": c.name, "size": c.size} for c in clustering.clusters] if clustering else [],
        "images": [{"path": r.path, "label": r.label, "cluster": r.cluster, "confidence": r.confidence,
                    "source": r.source, "split": r.split, "labelled_by": r.labelled_by} for r in plan.rows],
        "card": card.card_data(coll, plan.rows, "json", plan.layout, audit),
    }
    with _text_output(out, force) as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    return _row_report(coll, out, "json", plan, beside, force, audit)


def dataset_card(coll: Collection, include_unlabelled: bool = True,
                 audit: Mapping[str, object] | None = None) -> dict:
    """The dataset card of a CSV / JSON export of the collection as it is now (the app offers it as a download)."""
    plan = _plan(coll, include_unlabelled)
    return card.card_data(coll, plan.rows, "csv", plan.layout, audit)


def _row_report(coll: Collection, out, fmt: str, plan: _Plan, beside: tuple[Path, str] | None, force: bool,
                audit: Mapping[str, object] | None) -> ExportReport:
    result = plan.report(str(out) if not hasattr(out, "write") else "<stream>", fmt)
    for r in plan.rows:
        _count(result, r)
    if beside is not None:
        try:
            paths = card.write_card(coll, beside[0], plan.rows, fmt, plan.layout, audit, name=beside[1], force=force)
        except DiskFull:  # no export without its card: the file goes too
            for path in (Path(out), *card.card_paths(*beside)):
                path.unlink(missing_ok=True)
            raise
        result.card = [str(p) for p in paths]
    return result


# ---------------------------------------------------------------------------------------------------- zip


def export_zip(coll: Collection, unlabelled: str = "skip", progress: Progress | None = None,
               include_csv: bool = True, audit: Mapping[str, object] | None = None) -> tuple[bytes, ExportReport]:
    """The ImageFolder layout (plus `labels.csv` with paths relative to the zip root, and the dataset card) as zip
    bytes, for a download, and a report naming every original that could not be read (it is left out of the zip,
    never silently).

    JPEG/PNG originals are already compressed, so members are stored, not deflated.
    """
    _check_unlabelled(unlabelled)
    plan = _plan(coll)
    names = folder_names(r.label for r in plan.rows if r.label is not None)
    result = plan.report("<zip>", "zip", names)
    result.unlabelled_skipped = sum(1 for r in plan.rows if r.label is None and unlabelled == "skip")
    buf = io.BytesIO()
    used: set[str] = set()
    listing = []
    todo = [r for r in plan.rows if r.label is not None or unlabelled == "folder"]
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for done, r in enumerate(todo, 1):
            folder = plan.folder(r, names[r.label] if r.label is not None else UNLABELLED_DIR)
            name = _unique_member(used, folder, _safe_file_name(Path(r.path).name))
            try:
                zf.write(r.path, name)
            except OSError as exc:
                used.discard(name.casefold())
                result.missing.append(f"{r.path} ({exc.strerror or exc})")
                continue
            listing.append((name, r))
            _count(result, r)
            report(progress, done, len(todo), name)
        if include_csv:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(r.csv_row(name) for name, r in listing)
            zf.writestr("labels.csv", text.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        data = card.card_data(coll, [r for _, r in listing], "zip", plan.layout, audit, result.missing)
        zf.writestr(card.DATA, json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                    compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(card.README, card.render_readme(data), compress_type=zipfile.ZIP_DEFLATED)
    result.card = [card.README, card.DATA]
    return buf.getvalue(), result


def _unique_member(used: set[str], folder: str, file_name: str) -> str:
    """`folder/name.jpg`, or `folder/name-1.jpg`, … when a member of that name (any case) is already in the zip."""
    name, n = f"{folder}/{file_name}", 0
    while name.casefold() in used:
        n += 1
        name = f"{folder}/{with_suffix_n(file_name, n)}"
    used.add(name.casefold())
    return name
