"""Who did what (issue 20): one image's label history with the names of who changed it, and, for one person, the
labels of theirs that someone else changed since they last looked.

Two people labelling one image: the later label wins, and the history keeps both. The first person hears of it the
next time they open the app (`changed_by_others`, until they `mark_seen`). Writers record the user themselves
(revsearch/labels.py → collection/label_store.py); this module only reads, and keeps each person's "seen up to"
mark in the collection's metadata.
"""

from __future__ import annotations

from revsearch.collection import Collection, label_store
from revsearch.collection.label_store import Action, Change

SEEN_META = "changes_seen_by:"  # + user name: the newest action that person was told about


def image_history(coll: Collection, image_id: int, limit: int = 20) -> list[Change]:
    """The label changes of one image, newest first, each with who made it."""
    return label_store.image_history(coll, image_id, limit)


def changed_by_others(coll: Collection, user: str, limit: int = 100) -> list[Change]:
    """Labels `user` had set that someone else changed since `user` last said they saw (newest first)."""
    return label_store.overridden(coll, user, after=int(coll.meta(SEEN_META + user) or 0), limit=limit)


def newest_action(coll: Collection) -> Action | None:
    """Anyone's newest labelling action not undone yet (what an admin may undo for someone else)."""
    return label_store.last_action(coll, None)


def mark_seen(coll: Collection, user: str, upto: int | None = None) -> None:
    """`user` has seen every change up to action `upto` (default: the newest)."""
    coll.set_meta({SEEN_META + user: label_store.newest_action_id(coll) if upto is None else int(upto)})


__all__ = ["Change", "changed_by_others", "image_history", "mark_seen", "newest_action"]
