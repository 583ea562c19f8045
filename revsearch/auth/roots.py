"""Allowed folders: every server-side path the app is given (a folder to index in place, a folder to move duplicates
to, an export folder) must lie inside one of $REVSEARCH_ROOTS.

A path is resolved first (symlinks followed, `..` collapsed, `~` expanded) and only then checked for containment, so
neither a link nor `..` leaves a root. A Windows-style name on a POSIX server (`C:\\…`, `..\\..\\x`) is never
taken apart into something else: a backslash is refused, a drive-relative name is not absolute. With no roots set,
a shared server allows no server-side path at all (uploads only); on one's own machine nothing is confined.
Linked files found inside a root that point outside it are not indexed (`contains`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from revsearch.errors import RevsearchError

ROOTS_ENV = "REVSEARCH_ROOTS"  # folders separated by os.pathsep (":" on Linux and macOS, ";" on Windows)


class OutsideRoots(RevsearchError):
    """A server-side path outside the allowed folders (or any path, on a shared server with none set)."""


@dataclass(frozen=True)
class Roots:
    """The allowed folders (resolved), and whether the server is shared (then no roots means no folders at all)."""

    paths: tuple[Path, ...] = ()
    shared: bool = False

    @classmethod
    def from_env(cls, shared: bool, environ: Mapping[str, str] | None = None) -> "Roots":
        """The roots of $REVSEARCH_ROOTS; a relative entry is an error (relative to what?), empty entries are
        ignored."""
        text = (os.environ if environ is None else environ).get(ROOTS_ENV, "")
        paths = []
        for entry in (e.strip() for e in text.split(os.pathsep)):
            if not entry:
                continue
            path = Path(entry).expanduser()
            if not path.is_absolute():
                raise RevsearchError(f"{ROOTS_ENV} holds {entry!r}: every allowed folder must be an absolute path")
            paths.append(path.resolve())
        return cls(tuple(dict.fromkeys(paths)), shared)

    @property
    def confined(self) -> bool:
        """True when server-side paths are checked at all."""
        return bool(self.paths) or self.shared

    @property
    def folders_allowed(self) -> bool:
        """False on a shared server without roots: no folder of the server may be named from the browser."""
        return bool(self.paths) or not self.shared

    def describe(self) -> str:
        if self.paths:
            return ", ".join(str(p) for p in self.paths)
        return f"none are set (an admin sets {ROOTS_ENV} on the server)"

    def confine(self, path: Path | str) -> Path:
        """`path` resolved, when it lies inside an allowed folder (or nothing is confined); else `OutsideRoots`."""
        text = str(path).strip()
        if not text:
            raise RevsearchError("enter the full path of a folder on the server")
        if "\x00" in text:
            raise OutsideRoots(f"{text!r} is not a usable path")
        if not self.confined:
            return Path(text).expanduser()  # unchecked: the action's own checks (an absolute path…) still apply
        if os.sep == "/" and "\\" in text:
            raise OutsideRoots(f"{text} is outside the allowed folders: {self.describe()} (\\ is not a folder "
                               "separator on this server; use /)")
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            raise OutsideRoots(f"{text} is outside the allowed folders: {self.describe()} (give a full path)")
        resolved = candidate.resolve()
        if not self.contains(resolved):
            shown = text if str(resolved) == text else f"{text} (which is {resolved})"
            raise OutsideRoots(f"{shown} is outside the allowed folders: {self.describe()}")
        return resolved

    def contains(self, path: Path | str) -> bool:
        """Whether `path`, resolved (links followed), lies inside an allowed folder; always, when not confined."""
        if not self.confined:
            return True
        resolved = Path(path).resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self.paths)


__all__ = ["OutsideRoots", "ROOTS_ENV", "Roots"]
