"""The groups a split keeps together: near-duplicates, exact copies (a duplicate row, or the same content hash), and
images stored in one group by an earlier split — connected components over all of them, as arrays.

A full split compares every image (revsearch/near_duplicates.py `pairs`, answered from the kept comparison when it
still describes the collection); an update compares only the images without a split, through the index, and ties
them to the stored groups: a few new images among a million cost seconds, not a full comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from revsearch import near_duplicates
from revsearch.collection import Collection
from revsearch.collection.split_store import Nodes
from revsearch.progress import Progress

NEAR, EXACT, STORED = 0, 1, 2  # edge kinds


@dataclass(frozen=True)
class Groups:
    component: np.ndarray  # int64 per node: its connected component
    grp: np.ndarray  # int64 per node: the smallest image id of its component (what is stored)
    edges: tuple[np.ndarray, np.ndarray]  # node indices (a, b) of every tie found
    kind: np.ndarray  # per edge: NEAR, EXACT or STORED

    def stats(self, active: np.ndarray) -> dict:
        """Groups of two or more exported images: how many, their images, the largest, and the pairs behind them."""
        sizes = np.bincount(self.component[active], minlength=int(self.component.max()) + 1 if len(active) else 0)
        multi = sizes[sizes > 1]
        return {"kept_together": int(len(multi)), "images": int(multi.sum()), "largest": int(multi.max(initial=0)),
                "near_copy_pairs": int((self.kind == NEAR).sum()), "exact_copy_pairs": int((self.kind == EXACT).sum())}


def group_nodes(coll: Collection, nodes: Nodes, fixed: np.ndarray, threshold: float, full: bool,
                progress: Progress | None = None) -> Groups:
    """Components of `nodes` (split_store.nodes) tied by near-duplicate pairs, exact copies and stored groups of the
    `fixed` nodes (those keeping their split; none on a full split)."""
    n = len(nodes.ids)
    parts = [_near(coll, nodes, fixed, threshold, full, progress), _exact(nodes)]
    if not full:
        keeping = np.flatnonzero(fixed >= 0)
        parts.append((*_same(nodes.grp[keeping].tolist(), keeping), STORED))
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    kind = np.concatenate([np.full(len(p[0]), p[2], np.int8) for p in parts])
    graph = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False) if n else (0, np.zeros(0, np.int32))
    component = component.astype(np.int64)
    smallest = np.full(int(component.max()) + 1 if n else 0, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, component, nodes.ids)
    return Groups(component, smallest[component], (a, b), kind)


def _near(coll: Collection, nodes: Nodes, fixed: np.ndarray, threshold: float, full: bool,
          progress: Progress | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Near-duplicate pairs as node indices: all of them, or those of the nodes without a split."""
    ids = None if full else nodes.ids[fixed < 0].tolist()
    found = near_duplicates.pairs(coll, threshold, ids=ids, progress=progress) if full or ids else []
    pairs = np.array([(a, b) for a, b, _ in found], np.int64).reshape(-1, 2)
    return (*_positions(nodes.ids, pairs[:, 0], pairs[:, 1]), NEAR)


def _exact(nodes: Nodes) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact copies: a row recorded as the duplicate of another, and rows with the same content hash."""
    copies = np.flatnonzero(nodes.duplicate_of >= 0)
    a, b = _positions(nodes.ids, nodes.ids[copies], nodes.duplicate_of[copies])
    hashed = [k for k, h in enumerate(nodes.hashes) if h is not None]
    c, d = _same([nodes.hashes[k] for k in hashed], np.array(hashed, np.int64))
    both = np.stack([np.concatenate([a, c]), np.concatenate([b, d])], axis=1)
    both = np.unique(np.sort(both, axis=1), axis=0).reshape(-1, 2)  # a copy is usually tied both ways: once
    return both[:, 0], both[:, 1], EXACT


def _same(keys: list, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges tying each position to the first position with the same key."""
    first: dict = {}
    a, b = [], []
    for key, k in zip(keys, positions.tolist()):
        head = first.setdefault(key, k)
        if head != k:
            a.append(head)
            b.append(k)
    return np.array(a, np.int64), np.array(b, np.int64)


def _positions(ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node indices of the pairs (a, b) of image ids whose two images are both among the (sorted) `ids`."""
    pa, pb = np.searchsorted(ids, a), np.searchsorted(ids, b)
    ok = (pa < len(ids)) & (pb < len(ids))
    ok[ok] &= (ids[pa[ok]] == a[ok]) & (ids[pb[ok]] == b[ok])
    return pa[ok], pb[ok]
