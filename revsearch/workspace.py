"""The app's workspace: a data directory of named collections — list, create, open, delete — and the demo's photos.

No Streamlit here: the app calls these functions and only draws widgets around them, and tests drive them directly.
Saving uploads lives in revsearch.uploads; indexing and preparing the pages in revsearch.indexing.adding (the
demo and folders indexed in place go through it: `build_demo`, `add_local_folder`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from revsearch import busy
from revsearch.collection import Collection
from revsearch.embed.embedder import Embedder
from revsearch.errors import RevsearchError
from revsearch.indexing.adding import Added, Phases, add_images
from revsearch.indexing.pairing import create_for
from revsearch.safe_write import atomic_output, copy_atomic

DATA_ENV = "REVSEARCH_DATA"
DEMO_ENV = "REVSEARCH_DEMO"  # folder of demo photos; "off" (or "") builds no demo
DEMO_SLUG = "demo"
DEMO_NAME = "Demo: clothing photos"
ABOUT = "about.json"
FILES = "files"
REPO_DEMO = Path(__file__).resolve().parent.parent / "assets" / "demo"
_SLUG_BAD = re.compile(r"[^a-z0-9]+")
UPLOAD_LIMIT_MB = 1024  # default upload limit per file: Streamlit's server.maxUploadSize in .streamlit/config.toml


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
    indexing: bool = False  # an indexing run holds it now (see revsearch.busy): counts are still growing

    @property
    def files_dir(self) -> Path:
        return self.directory / FILES

    @property
    def size_text(self) -> str:
        """"n images" (" so far, indexing…" while a run holds it)."""
        n = self.counts.get("indexed", 0)
        return f"{n} image{'s' if n != 1 else ''}" + (" so far, indexing…" if self.indexing else "")

    @property
    def label(self) -> str:
        """One line for a selector: name · n images (· indexing when a run holds it)."""
        return f"{self.name} · {self.size_text}"


def slugify(name: str) -> str:
    """A folder name for a collection name: lowercase ascii, digits and dashes."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _SLUG_BAD.sub("-", text).strip("-")[:48].strip("-")
    return slug or "collection"


class Workspace:
    """The data directory: list, create, open, delete collections; check folders indexed in place; the demo's photos."""

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

    def upload_limit_mb(self) -> float:
        """The largest file (MB) the app accepts as an upload, as an admin set it (default UPLOAD_LIMIT_MB)."""
        value = self.settings().get("upload_limit_mb")
        return float(value) if isinstance(value, (int, float)) and value > 0 else float(UPLOAD_LIMIT_MB)

    def set_upload_limit_mb(self, mb: float) -> None:
        if not 0 < float(mb) <= 1024**2:
            raise RevsearchError("the upload limit is a size in MB above 0")
        self.ensure_root()
        self._save_settings({**self.settings(), "upload_limit_mb": float(mb)})

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
                              sources=list(about.get("sources") or []), demo=bool(about.get("demo")),
                              indexing=busy.is_indexing(directory))

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
        """A new empty collection bound to `embedder`'s model, weights, input handling and precision."""
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
        create_for(directory, embedder).close()
        (directory / FILES).mkdir(exist_ok=True)
        _write_json_atomic(directory / ABOUT, {"name": name, "created_at": time.time(), "sources": [],
                                               "demo": demo})
        return self.info(slug)

    def delete(self, slug: str) -> None:
        """Remove a collection's folder (catalog, thumbnails and other caches, uploaded copies); server folders stay.

        Refused while the collection is being indexed (the run would write into a folder that is going away)."""
        directory = self.directory(slug)
        if not Collection.exists(directory):
            raise RevsearchError(f"there is no collection {slug!r}")
        resolved = directory.resolve()
        if resolved.parent != self.collections_dir.resolve():
            raise RevsearchError(f"refusing to delete {resolved}: it is not inside {self.collections_dir}")
        # Move aside first so a half-finished delete never leaves a half collection that still lists.
        trash = Path(tempfile.mkdtemp(prefix=f".deleting-{slug}-", dir=self.collections_dir))
        try:
            with busy.exclusive(resolved, f"delete the collection {slug!r}"):
                os.replace(resolved, trash / slug)
        finally:
            shutil.rmtree(trash, ignore_errors=True)

    def open(self, slug: str) -> Collection:
        return Collection.open(self.directory(slug))

    # ------------------------------------------------------------------ folders indexed in place

    def local_folder(self, folder: Path | str) -> Path:
        """A folder on this machine checked for indexing in place: absolute, existing, not a disk, not our data.

        The data directory is refused both ways: inside it (add photos by upload instead) and around it (a sync of
        the whole home folder would index every collection's uploaded copies and thumbnails).
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
        return path

    def add_source(self, slug: str, folder: Path) -> None:
        """Remember a folder indexed in place, so the page can list it (and the user can sync it again)."""
        path = self.directory(slug) / ABOUT
        about = _read_json(path)
        sources = list(about.get("sources") or [])
        if str(folder) not in sources:
            sources.append(str(folder))
        about["sources"] = sources
        _write_json_atomic(path, about)

    # ------------------------------------------------------------------ the demo

    def demo_needed(self) -> bool:
        """True until the demo was built completely once (a half-built demo resumes; a deleted one is not rebuilt)."""
        if self.settings().get("demo_built"):
            return False
        return demo_source() is not None

    def copy_demo(self, embedder: Embedder) -> CollectionInfo:
        """The "demo" collection (created if missing) with every demo photo copied into its files/ folder.

        Indexing them is `build_demo`'s job; photos already copied are kept, so a half-built demo
        resumes.
        """
        source = demo_source()
        if source is None:
            raise RevsearchError(f"no demo folder configured (${DEMO_ENV} is off)")
        if not source.is_dir():
            raise RevsearchError(f"demo photos not found at {source}; set ${DEMO_ENV} to a folder of images")
        directory = self.directory(DEMO_SLUG)
        if not Collection.exists(directory):
            self.create(DEMO_NAME, embedder, demo=True, slug=DEMO_SLUG)
        files = directory / FILES
        for src in sorted(source.rglob("*")):
            rel = src.relative_to(source)
            if not src.is_file() or any(p.startswith(".") for p in rel.parts) or src.name.upper() == "LICENSE":
                continue
            target = files / rel
            if not target.is_file() or target.stat().st_size != src.stat().st_size:
                copy_atomic(src, target)  # a killed build leaves no truncated copy; an old one is replaced
        return self.info(DEMO_SLUG)

    def mark_demo_built(self) -> None:
        """Record that the demo was built completely, so it is not built again (not even after it is deleted)."""
        settings = self.settings()
        settings["demo_built"] = True
        self._save_settings(settings)


# ---------------------------------------------------------------------------------------------- adding

def build_demo(ws: Workspace, embedder: Embedder, phases: Phases | None = None) -> tuple[CollectionInfo, Added]:
    """Copy the demo photos into the "demo" collection, add them and prepare it; resumes a half-built demo."""
    info = ws.copy_demo(embedder)
    with ws.open(info.slug) as coll:
        added = add_images(coll, info.files_dir, embedder, phases)
    ws.mark_demo_built()
    return ws.info(info.slug), added


def add_local_folder(ws: Workspace, slug: str, folder: Path | str, embedder: Embedder,
                     phases: Phases | None = None, keep: Callable[[Path], bool] | None = None) -> Added:
    """Index a folder on this machine in place (nothing is copied) and remember it as a source of the collection —
    unless it holds no image (empty, or only other files): that is a warning, and the folder is not listed.

    Adding the same folder again syncs it: new and changed files are embedded, files not found marked missing;
    files `keep` refuses (links out of the allowed folders) are left out.
    """
    path = ws.local_folder(folder)
    with ws.open(slug) as coll:
        added = add_images(coll, path, embedder, phases, keep=keep)
    if added.found:
        ws.add_source(slug, path)
    elif str(path) not in ws.info(slug).sources:
        what = f"{len(added.report.skipped)} files, none of them an image" if added.report.skipped else "nothing"
        added.report.warnings.append(f"{path} holds {what}: no image was indexed, and the folder is not listed "
                                     "as a folder of this collection")
    return added



# ---------------------------------------------------------------------------------------------- helpers

def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json_atomic(path: Path, data: dict) -> None:
    with atomic_output(path, force=True) as fh:
        json.dump(data, fh, indent=2)


__all__ = ["CollectionInfo", "DATA_ENV", "DEMO_ENV", "DEMO_SLUG", "Workspace", "add_local_folder", "build_demo",
           "data_dir", "demo_source", "slugify"]
