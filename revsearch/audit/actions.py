"""Acting on an audit: confirm that labels are right (remembered; the audit never reports them again while they keep
that label) and take that back. Fixing a label is an ordinary labelling action (revsearch/labels.py: `label_images`,
`label_each`), undone like any other."""

from __future__ import annotations

from typing import Iterable

from revsearch import labels
from revsearch.collection import Collection, audit_store
from revsearch.errors import RevsearchError


def confirm(coll: Collection, refs: Iterable[labels.ImageRef]) -> int:
    """Confirm the current label of each image (ids or paths); returns how many confirmations are new."""
    ids = labels.resolve(coll, refs)
    current = labels.labels(coll, ids)
    unlabelled = [i for i in ids if i not in current]
    if unlabelled:
        raise RevsearchError(f"only labels can be confirmed; not labelled: {', '.join(map(str, unlabelled[:5]))}")
    return audit_store.confirm(coll, {i: current[i] for i in ids})


def unconfirm(coll: Collection, refs: Iterable[labels.ImageRef]) -> dict[int, str]:
    """Take confirmations back (the audit may report those labels again); returns the ones removed."""
    return audit_store.unconfirm(coll, labels.resolve(coll, refs))

