"""Exclusions: images a person decided to leave out of the exported dataset (junk, off-topic, a wrong kind of photo).

An excluded image stays in the collection — searchable, labelled, clustered — and is only left out of every export
(ImageFolder, zip, CSV, JSON), where the dataset card lists it with its reason. It is reversible two ways: `include`
takes it back, and `undo` reverses the newest exclude / include action (several levels deep; an image changed again
since is left alone and named). Excluding an image excludes its exact copies (same content) too, as labelling does.
Splits (revsearch/splits.py) leave excluded images out of the balance; one taken back joins a split the next time
splits are updated (every export does that first).

Public API (take an open `Collection`; `refs` are image ids or paths, as in revsearch/labels.py):
    exclude(coll, refs, reason, copies=True) -> int       images newly excluded (or given a new reason), one action
    include(coll, refs, copies=True) -> int                images taken back into exports, one action
    excluded(coll, ids=None) -> dict[int, Exclusion]       id -> Exclusion(id, path, reason, at) of excluded images
    excluded_ids(coll) -> set[int]                         ids of excluded images
    count(coll) -> int                                     how many images are excluded
    undo(coll, action_id=None) -> UndoReport               reverse the newest exclude/include not undone yet
    last_action(coll) -> Action | None                     what `undo` would reverse (its .description, .at)
    version(coll) -> str                                   moves on every change (for caches)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from revsearch.collection import Collection, exclusion_store
from revsearch.collection.exclusion_store import Action, UndoReport
from revsearch.errors import RevsearchError
from revsearch.labels import ImageRef, clean_text, resolve

MAX_REASON_CHARS = 500

__all__ = ["Action", "Exclusion", "UndoReport", "count", "exclude", "excluded", "excluded_ids", "include",
           "last_action", "undo", "version"]


@dataclass(frozen=True)
class Exclusion:
    id: int
    path: str
    reason: str
    at: float  # unix time it was excluded

    def as_dict(self) -> dict:
        return asdict(self)


def clean_reason(reason: str) -> str:
    """Trimmed, NFC-normalised reason text; refuses empty, over-long or control-character reasons."""
    if isinstance(reason, str) and not reason.strip():
        raise RevsearchError("say why the images are excluded (--reason TEXT): the dataset card lists it")
    return clean_text(reason, "a reason", MAX_REASON_CHARS)


def exclude(coll: Collection, refs: Iterable[ImageRef], reason: str, copies: bool = True) -> int:
    """Leave images (and, with `copies`, their exact copies) out of every export, as one undoable action.
    An image already excluded for this reason is left as it is; one excluded for another reason gets this one."""
    text = clean_reason(reason)
    ids = _targets(coll, refs, copies)
    current = exclusion_store.states(coll, ids)
    now = time.time()
    todo = {i: (text, now) for i in ids if current.get(i, (None,))[0] != text}
    n = len(todo)
    return exclusion_store.change(coll, todo, "exclude", f"excluded {n} image{'s' if n != 1 else ''} ({text})")


def include(coll: Collection, refs: Iterable[ImageRef], copies: bool = True) -> int:
    """Take excluded images (and their exact copies) back into exports, as one undoable action."""
    ids = sorted(exclusion_store.states(coll, _targets(coll, refs, copies)))
    n = len(ids)
    return exclusion_store.change(coll, {i: None for i in ids}, "include",
                                  f"took {n} image{'s' if n != 1 else ''} back into exports")


def excluded(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, Exclusion]:
    """id -> Exclusion of every excluded image (or of the excluded ones among `ids`), by id."""
    states = exclusion_store.states(coll, ids)
    paths = coll.paths(sorted(states))
    return {i: Exclusion(i, paths.get(i, ""), reason, at) for i, (reason, at) in sorted(states.items())}


def excluded_ids(coll: Collection) -> set[int]:
    """Ids of every excluded image (one read, no paths: what exports filter by)."""
    return set(exclusion_store.states(coll))


def count(coll: Collection) -> int:
    return exclusion_store.count(coll)


def undo(coll: Collection, action_id: int | None = None) -> UndoReport:
    """Reverse the newest exclude / include not undone yet (or `action_id`, the one an Undo button showed)."""
    report = exclusion_store.undo(coll, action_id)
    if report is None:
        raise RevsearchError("nothing to undo: no exclusion left to undo" if action_id is None
                             else f"exclusion action {action_id} was undone already (or never existed)")
    return report


def last_action(coll: Collection) -> Action | None:
    """What `undo` would reverse now."""
    return exclusion_store.latest(coll)


def version(coll: Collection) -> str:
    return exclusion_store.version(coll)


def _targets(coll: Collection, refs: Iterable[ImageRef], copies: bool) -> list[int]:
    """The referenced images' ids, plus their exact copies (and the originals of referenced copies)."""
    ids = resolve(coll, refs)
    return exclusion_store.same_content(coll, ids) if copies else ids
