"""A collection's job records on disk: `<collection>/jobs.json`, so a server that starts again can tell which jobs a
restart interrupted (and at what progress), and show the outcome of the last ones.

    {"version": 1, "jobs": [{"id", "kind", "title", "params", "state", "started_at", "ended_at", "phase", "done",
                             "total", "message", "error", "result", "pid", "token"}, …]}   oldest first, KEEP at most

Written whole, atomically (temp file + rename); a damaged or newer-version file reads as no records (the jobs it
held are only history: nothing is lost that a job cannot redo).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from revsearch.errors import RevsearchError
from revsearch.safe_write import atomic_output

FILE = "jobs.json"
VERSION = 1
KEEP = 20  # records kept per collection (the newest)

log = logging.getLogger(__name__)


def load(directory: Path | str) -> list[dict]:
    """The records of the collection in `directory`, oldest first ([] when there are none or they are unreadable)."""
    try:
        data = json.loads((Path(directory) / FILE).read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable job records in %s: %s", directory, exc)
        return []
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("jobs"), list):
        return []
    return [r for r in data["jobs"] if isinstance(r, dict) and isinstance(r.get("id"), str)]


def save(directory: Path | str, records: list[dict]) -> None:
    """Replace the records (the newest KEEP); a collection deleted meanwhile is no error."""
    folder = Path(directory)
    if not folder.is_dir():
        return
    try:
        with atomic_output(folder / FILE, force=True) as fh:
            json.dump({"version": VERSION, "jobs": records[-KEEP:]}, fh)
    except (OSError, RevsearchError) as exc:  # a full disk or a collection going away: the job itself goes on
        log.warning("could not write the job records of %s: %s", directory, exc)


__all__ = ["FILE", "KEEP", "VERSION", "load", "save"]
