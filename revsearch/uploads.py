"""Uploaded files and zips saved safely into a collection's files/ folder (no indexing here: see
revsearch.indexing.adding).

Names come from the browser, so every one goes through `safe_relpath` (no `..`, no absolute path escapes the
folder); files are created exclusively, never overwriting; zips are unpacked into a private staging folder first so
that nothing but images is kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Protocol

from revsearch import images
from revsearch.files import ZipRefused, content_hash, extract_zip, open_new, safe_relpath, unique_path
from revsearch.safe_write import DiskFull, disk_full, is_disk_full

MAX_ZIP_BYTES = 2 * 1024**3
_CHUNK = 1 << 20


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


def save_uploads(dest: Path, uploads: Iterable[Upload], max_zip_bytes: int = MAX_ZIP_BYTES,
                 max_file_bytes: int | None = None) -> SavedUploads:
    """Stream uploads into `dest` (a collection's files/ folder) under sanitised names; unpack .zip files safely.

    Folder uploads keep their relative paths; a name already taken by other content gets a `-1` suffix, while the
    very same content uploaded again is reused instead of copied twice. Files that are not images are refused with
    the reason (and not kept); hidden files and OS litter are ignored; a file over `max_file_bytes` (the upload
    limit an admin set) is refused before anything of it is kept.
    """
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
            if max_file_bytes is not None and _size(upload) > max_file_bytes:
                result.rejected.append((name, f"larger than the upload limit of {max_file_bytes / 2**20:g} MB"))
                continue
            upload.seek(0)
            if _is_zip(upload, rel):
                _save_zip(upload, rel, dest, max_zip_bytes, result)
            else:
                _save_one(upload, rel, dest, result)
        except DiskFull as exc:
            result.rejected.append((name, str(exc)))
        except OSError as exc:
            result.rejected.append((name, str(disk_full(name, exc)) if is_disk_full(exc)
                                    else f"could not be saved: {exc.strerror or exc}"))
    return result


def _save_one(upload: Upload, rel: PurePosixPath, dest: Path, result: SavedUploads) -> None:
    data = _read_all(upload)  # Streamlit holds uploads in memory already; probing reads only the header
    dims = images.probe(data)
    if isinstance(dims, images.Skip):
        result.rejected.append((str(rel), dims.reason))
        return
    existing = _same_content(dest, rel, data)
    if existing is not None:
        result.already_there.append(existing)
        return
    target = _write_new(dest, rel, upload)
    result.saved.append(target.resolve())


def _save_zip(upload: Upload, rel: PurePosixPath, dest: Path, max_bytes: int, result: SavedUploads) -> None:
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
            existing = _same_content(dest, target_rel, path)
            if existing is not None:
                result.already_there.append(existing)
                continue
            target = unique_path(dest, target_rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            result.saved.append(target.resolve())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _same_content(dest: Path, rel: PurePosixPath, content: bytes | Path) -> Path | None:
    """The file already saved under `rel` when it holds exactly `content` (an upload sent twice), else None."""
    existing = dest / Path(*rel.parts)
    if existing.is_file() and not existing.is_symlink() and content_hash(existing) == content_hash(content):
        return existing.resolve()
    return None


def _is_zip(upload: Upload, rel: PurePosixPath) -> bool:
    head = upload.read(4)
    upload.seek(0)
    return rel.suffix.lower() == ".zip" or head == b"PK\x03\x04"


def _size(upload: Upload) -> int:
    size = getattr(upload, "size", None)
    if isinstance(size, int):
        return size
    upload.seek(0, os.SEEK_END)
    end = int(upload.tell())  # type: ignore[attr-defined]
    upload.seek(0)
    return end


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


__all__ = ["MAX_ZIP_BYTES", "SavedUploads", "Upload", "save_uploads"]
