"""Writing outputs without losing anything: no silent overwrite, temp file + rename, a full disk called a full disk.

A person's exports and uploads end up next to files they care about. So an existing file is replaced only when they
said so (`force`), a reader never sees a half-written file (it is written under a temporary name in the same folder
and renamed into place), and when the disk fills up the partial output is removed and the error says "disk full"
instead of something that sends them looking for a corrupt file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from revsearch.errors import REPLACE_FILE, Hint, RevsearchError

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class DiskFull(RevsearchError):
    """The disk (or the quota, or the file size limit) ran out while writing; nothing partial was kept."""


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def disk_full(target: Path | str, exc: OSError) -> DiskFull:
    return DiskFull(f"the disk is full: could not write {target} ({exc.strerror or exc}); the partial output was "
                    f"removed — free some space and try again")


def check_target(path: Path | str, force: bool = False) -> Path:
    """The output path, refused when it is a folder, or an existing file and `force` was not given."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise RevsearchError(f"{path} is a folder; give a file name to write to")
    if path.exists() and not force:
        raise RevsearchError(f"{path} already exists", Hint(REPLACE_FILE, {"path": str(path)}))
    return path


@contextmanager
def atomic_output(path: Path | str, force: bool = False, mode: str = "w", **open_kwargs: object) -> Iterator[IO]:
    """Write `path` through a temporary file in the same folder, renamed into place only when complete.

    Without `force` the final step refuses a file that appeared meanwhile (hard link: atomic, never replaces).
    """
    path = check_target(path, force)
    with _temporary_beside(path) as (fd, tmp):
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)


@contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[int, Path]]:
    """A fresh temporary file in `target`'s folder (same file system: the rename is atomic), removed unless it was
    renamed into place; a full disk on the way becomes `DiskFull`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(name)
    try:
        yield fd, tmp
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full(target, exc) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _place_new(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path` unless `path` exists (a hard link is atomic; file systems without links get a check)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise RevsearchError(f"{path} appeared while it was being written; nothing was overwritten") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV) or path.exists():
            raise
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy a file (data and times) so that `target` is either absent or complete, even if the process is killed."""
    with _temporary_beside(target) as (fd, tmp):
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        shutil.copystat(source, tmp)
        os.replace(tmp, target)


__all__ = ["DiskFull", "atomic_output", "check_target", "copy_atomic", "disk_full", "is_disk_full"]
