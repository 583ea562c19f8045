"""The one exception family the CLI and the app turn into a readable message instead of a traceback.

The message says what went wrong in words any reader understands. What to do about it often depends on who reads it
— a flag on the command line, a page of the app — so the engine does not word it: it attaches a `Hint`, a kind from
`HINTS` and the data it needs, and the CLI (revsearch/cli/common.py) and the app (ui/state.py) each say it their way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

USE_MODEL = "use-model"  # data: model — the collection's own model, or a new collection
USE_INPUT = "use-input"  # data: input — the collection's own input handling, or a new collection
USE_PRECISION = "use-precision"  # data: precision — the collection's own precision, or a new collection
CREATE_COLLECTION = "create-collection"  # data: directory — there is no collection there yet
MAKE_CLUSTERS = "make-clusters"  # the collection has no clusters yet
REPLACE_FILE = "replace-file"  # data: path — the output exists; another name, or replace it on purpose
HINTS = (USE_MODEL, USE_INPUT, USE_PRECISION, CREATE_COLLECTION, MAKE_CLUSTERS, REPLACE_FILE)


@dataclass(frozen=True)
class Hint:
    """What the reader can do about an error, for the CLI and the app to word: a kind (one of HINTS) and its data."""

    kind: str
    data: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in HINTS:
            raise ValueError(f"unknown hint kind {self.kind!r}")


class RevsearchError(Exception):
    """A user-facing error: its message tells what went wrong; its `hint`, when there is one, what to do."""

    def __init__(self, message: str, hint: Hint | None = None) -> None:
        super().__init__(message)
        self.hint = hint
