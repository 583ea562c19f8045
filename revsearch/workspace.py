"""The app's workspace: a data directory of named collections, uploads saved safely into them, and the demo.

No Streamlit here: the app calls these functions and only draws widgets around them, and tests drive them directly.

Layout of the data directory ($REVSEARCH_DATA, else $XDG_DATA_HOME/revsearch, else ~/.local/share/revsearch):

    <data>/workspace.json                 {"demo_built": true} — the demo is built once, not again after a delete
    <data>/collections/<slug>/            a revsearch collection (catalog.sqlite, index, analysis caches)
    <data>/collections/<slug>/about.json  {"name", "created_at", "sources": [server-side folders], "demo": bool}
    <data>/collections/<slug>/files/      uploaded images (copies); server-side folders are indexed in place

Deleting a collection removes its directory, uploaded copies included; server-side folders are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Protocol, Sequence

from revsearch import images
from revsearch.collection import Collection, IndexReport, index_files, index_folder
from revsearch.embed.embedder import Embedder
from revsearch.errors import RevsearchError
from revsearch.files import ZipRefused, content_hash, extract_zip, open_new, safe_relpath, unique_path
from revsearch.progress import Progress, report

DATA_ENV = "REVSEARCH_DATA"
DEMO_ENV = "REVSEARCH_DEMO"  # folder of demo photos; "off" (or "") builds no demo
DEMO_SLUG = "demo"
DEMO_NAME = "Demo: clothing photos"
ABOUT = "about.json"
FILES = "files"
REPO_DEMO = Path(__file__).resolve().parent.parent / "assets" / "demo"
_CHUNK = 1 << 20
_SLUG_BAD = re.compile(r"[^a-z0-9]+")


def data_dir() -> Path:
    """Where collections live: $REVSEARCH_DATA, else $XDG_DATA_HOME/revsearch, else ~/.local/share/revsearch."""
    configured = os.environ.get(DATA_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "revsearch"


def demo_source() -> Path | None:
    """The folder the demo collection is built from ($REVSEARCH_DEMO, default assets/demo), or None when off."""
    configured = os.environ.get(DEMO_ENV)
    if configured is not None:
        if configured.strip().lower() in ("", "off", "0", "false", "no"):
            return None
        return Path(configured).expanduser()
    return REPO_DEMO


# ---------------------------------------------------------------------------------------------- progress text


def format_duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min — for ETAs."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressText:
    """Turns Progress callbacks into (fraction, "34 / 80 images · 7.1 /s · about 6 s left") for a progress bar."""

    def __init__(self, unit: str = "images", clock: Callable[[], float] = time.perf_counter) -> None:
        self.unit = unit
        self.clock = clock
        self.started = clock()

    def __call__(self, done: int, total: int, message: str = "") -> tuple[float, str]:
        now = self.clock()
        if total <= 0:
            return 0.0, message or "starting…"
        fraction = min(1.0, done / total)
        text = f"{done} / {total} {self.unit}"
        elapsed = now - self.started
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            text += f" · {rate:.1f} /s"
            if done < total:
                text += f" · about {format_duration((total - done) / rate)} left"
        elif done == 0:
            text += " · estimating time left…"
        return fraction, text


# ---------------------------------------------------------------------------------------------- collections


@dataclass
class CollectionInfo:
    """What the collection list shows, without loading vectors."""

    slug: str
    name: str
    directory: Path
    model: str
    counts: dict[str, int]
    created_at: float
    sources: list[str]
    demo: bool

    @property
    def files_dir(self) -> Path:
        return self.directory / FILES

    @property
    def label(self) -> str:
        """One line for a selector: name · n images."""
        n = self.counts.get("indexed", 0)
        return f"{self.name} · {n} image{'s' if n != 1 else ''}"


class Upload(Protocol):
    """What the app hands over: Streamlit's UploadedFile fits (a BytesIO with a name)."""

    name: str

    def read(self, size: int = -1) -> bytes: ...

    def seek(self, offset: int, whence: int = 0) -> int: ...


@dataclass
class SavedUploads:
    """Which uploads landed where, which were already there, and which were refused and why."""

    saved: list[Path] = field(default_factory=list)
    already_there: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (upload name, reason)

    @property
    def paths(self) -> list[Path]:
        """Everything to index: new files and files that were uploaded before (unchanged for the index)."""
        return self.saved + self.already_there


def slugify(name: str) -> str:
    """A folder name for a collection name: lowercase ascii, digits and dashes."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _SLUG_BAD.sub("-", text).strip("-")[:48].strip("-")
    return slug or "collection"


class Workspace:
    """The data directory: list, create, open, delete collections; save uploads; build the demo once."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else data_dir()
        self.collections_dir = self.root / "collections"

    # ------------------------------------------------------------------ settings

    def _settings_path(self) -> Path:
        return self.root / "workspace.json"

    def settings(self) -> dict:
        try:
            return json.loads(self._settings_path().read_text())
        except (OSError, ValueError):
            return {}

    def _save_settings(self, settings: dict) -> None:
        _write_json_atomic(self._settings_path(), settings)

    # ------------------------------------------------------------------ listing

    def ensure_root(self) -> None:
        try:
            self.collections_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RevsearchError(f"cannot create the data directory {self.root}: {exc.strerror or exc}. Set "
                                 f"${DATA_ENV} to a writable folder.") from exc

    def slugs(self) -> list[str]:
        if not self.collections_dir.is_dir():
            return []
        return sorted(p.name for p in self.collections_dir.iterdir() if Collection.exists(p))

    def directory(self, slug: str) -> Path:
        """The collection folder for a slug; refuses anything that is not a plain child of the collections dir."""
        if not slug or slug != slugify(slug) and slug != DEMO_SLUG:
            raise RevsearchError(f"not a collection name: {slug!r}")
        return self.collections_dir / slug

    def info(self, slug: str) -> CollectionInfo:
        directory = self.directory(slug)
        if not Collection.exists(directory):
            raise RevsearchError(f"there is no collection {slug!r} in {self.collections_dir}")
        about = _read_json(directory / ABOUT)
        with Collection.open(directory) as coll:
            model, counts = coll.model, coll.counts()
        return CollectionInfo(slug=slug, name=about.get("name") or slug, directory=directory, model=model,
                              counts=counts, created_at=float(about.get("created_at") or 0.0),
                              sources=list(about.get("sources") or []), demo=bool(about.get("demo")))

    def list(self) -> list[CollectionInfo]:
        """Every collection, the demo first, then by name."""
        out = []
        for slug in self.slugs():
            try:
                out.append(self.info(slug))
            except RevsearchError:
                continue  # a damaged folder is not listed; it is left on disk untouched
        return sorted(out, key=lambda c: (not c.demo, c.name.lower()))

    # ------------------------------------------------------------------ create / delete

    def create(self, name: str, embedder: Embedder, demo: bool = False, slug: str | None = None) -> CollectionInfo:
        """A new empty collection bound to `embedder`'s model and weights."""
        name = " ".join(name.split())
        if not name:
            raise RevsearchError("give the collection a name")
        if len(name) > 80:
            raise RevsearchError("collection names are limited to 80 characters")
        if any(c.name.lower() == name.lower() for c in self.list()):
            raise RevsearchError(f"a collection named {name!r} already exists")
        self.ensure_root()
        base = slug or slugify(name)
        slug, n = base, 1
        while (self.collections_dir / slug).exists():
            n += 1
            slug = f"{base}-{n}"
        directory = self.collections_dir / slug
        Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim).close()
        (directory / FILES).mkdir(exist_ok=True)
        _write_json_atomic(directory / ABOUT, {"name": name, "created_at": time.time(), "sources": [],
                                               "demo": demo})
        return self.info(slug)

    def delete(self, slug: str) -> None:
        """Remove a collection's folder (its catalog, caches and uploaded copies); server folders stay untouched."""
        directory = self.directory(slug)
        if not Collection.exists(directory):
            raise RevsearchError(f"there is no collection {slug!r}")
        resolved = directory.resolve()
        if resolved.parent != self.collections_dir.resolve():
            raise RevsearchError(f"refusing to delete {resolved}: it is not inside {self.collections_dir}")
        # Move aside first so a half-finished delete never leaves a half collection that still lists.
        trash = Path(tempfile.mkdtemp(prefix=f".deleting-{slug}-", dir=self.collections_dir))
        os.replace(resolved, trash / slug)
        shutil.rmtree(trash, ignore_errors=True)

    def open(self, slug: str) -> Collection:
        return Collection.open(self.directory(slug))

    def _add_source(self, slug: str, folder: Path) -> None:
        path = self.directory(slug) / ABOUT
        about = _read_json(path)
        sources = list(about.get("sources") or [])
        if str(folder) not in sources:
            sources.append(str(folder))
        about["sources"] = sources
        _write_json_atomic(path, about)

    # ------------------------------------------------------------------ adding images

    def save_uploads(self, slug: str, uploads: Iterable[Upload], max_zip_bytes: int = 2 * 1024**3) -> SavedUploads:
        """Stream uploads into the collection's files/ folder under sanitised names; unpack .zip files safely.

        Folder uploads keep their relative paths (each part through `safe_relpath`, so no `..` or absolute path
        escapes); a name already taken by other content gets a `-1` suffix, while the very same content uploaded
        again is reused instead of copied twice. Files that are not images are refused with the reason (and not
        kept); hidden files and OS litter are ignored.
        """
        dest = self.directory(slug) / FILES
        dest.mkdir(parents=True, exist_ok=True)
        result = SavedUploads()
        for upload in uploads:
            name = getattr(upload, "name", "") or "upload"
            try:
                rel = safe_relpath(name)
            except ValueError:
                result.rejected.append((name, "no usable file name"))
                continue
            if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
                continue  # .DS_Store, ._photo.jpg, .git/… from folder uploads
            try:
                upload.seek(0)
                if _is_zip(upload, rel):
                    self._save_zip(upload, rel, dest, max_zip_bytes, result)
                else:
                    self._save_one(upload, rel, dest, result)
            except OSError as exc:
                result.rejected.append((name, f"could not be saved: {exc.strerror or exc}"))
        return result

    def _save_one(self, upload: Upload, rel: PurePosixPath, dest: Path, result: SavedUploads) -> None:
        data = _read_all(upload)  # Streamlit holds uploads in memory already; probing reads only the header
        dims = images.probe(data)
        if isinstance(dims, images.Skip):
            result.rejected.append((str(rel), dims.reason))
            return
        existing = dest / Path(*rel.parts)
        if existing.is_file() and not existing.is_symlink() and content_hash(existing) == content_hash(data):
            result.already_there.append(existing.resolve())
            return
        target = _write_new(dest, rel, upload)
        result.saved.append(target.resolve())

    def _save_zip(self, upload: Upload, rel: PurePosixPath, dest: Path, max_bytes: int,
                  result: SavedUploads) -> None:
        stem = rel.name[:-4] if rel.name.lower().endswith(".zip") else rel.name
        folder_rel = rel.with_name(stem or "zip")
        # Unpack into a private staging folder first so non-images can be dropped before anything is kept.
        staging = Path(tempfile.mkdtemp(prefix=".unzip-", dir=dest))
        try:
            try:
                extracted = extract_zip(upload, staging, max_total_bytes=max_bytes)
            except ZipRefused as exc:
                result.rejected.append((str(rel), str(exc)))
                return
            if not extracted:
                result.rejected.append((str(rel), "the zip holds no files"))
                return
            for path in extracted:
                inner = PurePosixPath(*path.relative_to(staging).parts)
                dims = images.probe(path)
                if isinstance(dims, images.Skip):
                    result.rejected.append((f"{rel}/{inner}", dims.reason))
                    continue
                target_rel = folder_rel / inner
                existing = dest / Path(*target_rel.parts)
                if existing.is_file() and not existing.is_symlink() and content_hash(existing) == content_hash(path):
                    result.already_there.append(existing.resolve())
                    continue
                target = unique_path(dest, target_rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                result.saved.append(target.resolve())
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def index_paths(self, slug: str, paths: Sequence[Path], embedder: Embedder,
                    progress: Progress | None = None) -> IndexReport:
        """Embed saved uploads into the collection (unchanged files are not re-embedded)."""
        with self.open(slug) as coll:
            result = index_files(coll, paths, embedder, progress=progress)
            coll.index()  # leave a fresh index on disk so the next page opens at once
        return result

    def add_folder(self, slug: str, folder: Path | str, embedder: Embedder,
                   progress: Progress | None = None) -> IndexReport:
        """Index a folder on this machine in place (large local collections): nothing is copied.

        Indexing the same folder again syncs it: new and changed files are embedded, deleted ones dropped.
        """
        text = str(folder).strip().strip('"').strip("'")
        if not text:
            raise RevsearchError("enter the path of a folder on this machine")
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise RevsearchError(f"use an absolute folder path (starting with / or ~), not {text!r}")
        if not path.exists():
            raise RevsearchError(f"folder not found: {path}")
        if not path.is_dir():
            raise RevsearchError(f"not a folder: {path}")
        path = path.resolve()
        if path == Path(path.anchor):
            raise RevsearchError("indexing a whole disk is not supported; choose a photo folder")
        root = self.root.resolve()
        if root.is_relative_to(path) and not any(p.startswith(".") for p in root.relative_to(path).parts):
            raise RevsearchError(f"{path} contains the revsearch data directory ({root}); choose a photo folder "
                                 "that does not")
        if path.is_relative_to(root):
            raise RevsearchError(f"{path} is inside the revsearch data directory; add photos by upload instead")
        with self.open(slug) as coll:
            result = index_folder(coll, path, embedder, progress=progress)
            coll.index()
        self._add_source(slug, path)
        return result

    # ------------------------------------------------------------------ analysis kept ready for the pages

    def prepare(self, slug: str, progress: Progress | None = None) -> dict:
        """After images were added: thumbnails, clusters and the map brought up to date, so pages open at once.

        A collection without clusters gets a first clustering with k = initial_k(n) (re-cluster with another or a
        suggested k on the Clusters page); later additions join the nearest existing cluster, keeping ids and names.
        New images are placed on the existing map (UMAP transform) unless much has changed.
        """
        from revsearch import clusters, projection, thumbnails

        done: dict = {}
        with self.open(slug) as coll:
            n = coll.counts()["indexed"]
            if n == 0:
                return done
            thumbs = 0
            for size in THUMB_SIZES:
                thumbs += thumbnails.warm(coll, size, progress=_phase(progress, "Making thumbnails"))
            done["thumbnails"] = thumbs
            report(progress, 0, 0, "Grouping similar images")
            if clusters.clustering(coll, n_representatives=0, n_outliers=0) is None:
                if n >= 2:
                    done["clusters"] = clusters.recluster(coll, initial_k(n)).k
            else:
                done["assigned"] = clusters.assign_new(coll)
            done["map"] = projection.update_map(coll, progress=_phase(progress, "Laying out the map")).action
        return done

    # ------------------------------------------------------------------ the demo

    def demo_needed(self) -> bool:
        """True until the demo was built completely once (a half-built demo resumes; a deleted one is not rebuilt)."""
        if self.settings().get("demo_built"):
            return False
        return demo_source() is not None

    def build_demo(self, embedder: Embedder, progress: Progress | None = None) -> tuple[CollectionInfo, IndexReport]:
        """Copy the demo photos into a new "demo" collection and index them (resumes a half-built demo)."""
        source = demo_source()
        if source is None:
            raise RevsearchError(f"no demo folder configured (${DEMO_ENV} is off)")
        if not source.is_dir():
            raise RevsearchError(f"demo photos not found at {source}; set ${DEMO_ENV} to a folder of images")
        report(progress, 0, 0, "copying the demo photos")
        directory = self.directory(DEMO_SLUG)
        if not Collection.exists(directory):
            self.create(DEMO_NAME, embedder, demo=True, slug=DEMO_SLUG)
        files = directory / FILES
        for src in sorted(source.rglob("*")):
            rel = src.relative_to(source)
            if not src.is_file() or any(p.startswith(".") for p in rel.parts) or src.name.upper() == "LICENSE":
                continue
            target = files / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
        with self.open(DEMO_SLUG) as coll:
            result = index_folder(coll, files, embedder, progress=progress)
            coll.index()
        settings = self.settings()
        settings["demo_built"] = True
        self._save_settings(settings)
        return self.info(DEMO_SLUG), result


# ---------------------------------------------------------------------------------------------- helpers

THUMB_SIZES = (256, 96)  # result grids and montages; hover previews on the map


def initial_k(n: int) -> int:
    """The first clustering's k: about √n, between 2 and 20 (80 photos → 9, 1,000 → 20)."""
    return max(1, min(n, max(2, min(20, round(n ** 0.5)))))


def _phase(progress: Progress | None, label: str) -> Progress | None:
    """Prefix a sub-step's messages with what the step is."""
    if progress is None:
        return None

    def update(done: int, total: int, message: str) -> None:
        progress(done, total, label)

    return update



def report_summary(result: IndexReport, rejected: Sequence[tuple[str, str]] = ()) -> dict:
    """The numbers the app's summary shows; `rejected` uploads count as skipped, with their reasons."""
    skipped = [(Path(p).name if os.sep in p else p, r) for p, r in result.skipped] + list(rejected)
    return {
        "indexed": result.indexed + result.updated,
        "unchanged": result.unchanged,
        "removed": result.removed,
        "skipped": skipped,
        "duplicates": [(Path(p).name, Path(o).name) for p, o in result.duplicates],
        "seconds": result.seconds,
    }


def _is_zip(upload: Upload, rel: PurePosixPath) -> bool:
    head = upload.read(4)
    upload.seek(0)
    return rel.suffix.lower() == ".zip" or head == b"PK\x03\x04"


def _read_all(upload: Upload) -> bytes:
    getvalue = getattr(upload, "getvalue", None)
    if callable(getvalue):
        return getvalue()
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return data


def _write_new(dest: Path, rel: PurePosixPath, upload: Upload) -> Path:
    """Create a fresh file (exclusive mode) under a free name and stream the upload into it."""
    target, out = open_new(dest, rel)
    try:
        with out:
            upload.seek(0)
            shutil.copyfileobj(upload, out, _CHUNK)  # type: ignore[arg-type]
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["CollectionInfo", "DATA_ENV", "DEMO_ENV", "DEMO_SLUG", "ProgressText", "SavedUploads", "Workspace",
           "data_dir", "demo_source", "format_duration", "report_summary", "slugify"]
