"""Learned-space search past learned.LEARNED_INDEX_LIMIT images, in milliseconds and without a second index.

A learned vector (learning/head.py) is [r, w·p] / √(1 + w²): r the unit raw vector, p its unit class-probability
vector (C numbers), w the class weight. The score of a learned-space query q = [q_r, q_c] (a projected image, or a
feedback query built from several) against an image is therefore

    score = (q_r · r + w · q_c · p) / √(1 + w²)

— a raw similarity, which the collection's raw index already answers, plus a bonus from C numbers per image. A
`Table` keeps those numbers in memory (ids, p as float16: 20 MB for 1M images and 10 classes) and, per class, a
bitmap of the images leaning to it (p[c] ≥ MEMBER); it is built by one streamed pass over the catalog, so the
vectors are never all in RAM, and kept as `learned-<labels>.npz` beside the head (atomic, read without pickle, for
the generation it was built at), so a restart does not pay that pass again. A query takes as candidates the raw
index's RAW_FETCH best and, for each of the query's own classes, its CLASS_FETCH best among the images leaning to
that class (an id selector on the same index, nprobe raised until the lists probed hold enough of them), then scores
every candidate exactly as above. An image is missed only when its raw
similarity ranks below both lists while its bonus would lift it into the top k: benchmarks/million.py measures
recall@10 against an exact learned search.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from revsearch.collection import Collection
from revsearch.learning import head as head_mod
from revsearch.learning.head import Head
from revsearch.safe_write import atomic_output

MEMBER = 0.3  # an image leans to class c when p[c] ≥ MEMBER (p is a unit vector: at most 11 classes per image)
QUERY_CLASS = 0.3  # a query searches the classes c with q_c[c] ≥ QUERY_CLASS · max(q_c) …
MAX_CLASSES = 4  # … at most this many
RAW_FETCH = 100
CLASS_FETCH = 200
SEEN = 4  # nprobe is raised until the lists probed hold ~SEEN × CLASS_FETCH images of the query's classes
MAX_NPROBE = 512
CHUNK = 65_536  # vectors read and projected at a time while building a table
TABLE_PREFIX = "learned-"
FORMAT = 1

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Table:
    """The class half of every indexed image's learned vector, and which images lean to which class."""

    ids: np.ndarray  # int64 [n], ascending
    probs: np.ndarray  # float16 [n, C]: unit class-probability rows
    members: np.ndarray  # uint8 [C, bytes]: bit i of row c (little-endian bit order) says image id i leans to c
    counts: np.ndarray  # int64 [C]: images leaning to each class
    weight: float  # the head's class weight w

    def bonus(self, ids: np.ndarray, q_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of the ids the table knows, q_c · p of those ids)."""
        rows = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        known = self.ids[rows] == ids if len(self.ids) else np.zeros(len(ids), bool)
        return known, self.probs[rows[known]].astype(np.float32) @ q_c


def table_for(coll: Collection, found: Head) -> Table:
    """The table of `found` over the collection's current vectors: kept beside the index per generation and head
    (Collection.derived), else read from its file, else built (and saved)."""
    version = str(found.meta.get("label_version"))
    return coll.derived("learned table", (version, coll.fingerprint), lambda: _read_or_build(coll, found, version))


def _read_or_build(coll: Collection, found: Head, version: str) -> Table:
    path = coll.directory / f"{TABLE_PREFIX}{version}.npz"
    table = _load(path, coll.generation, found)
    if table is None:
        generation, table = build_table(coll, found)
        _save(path, generation, table)
    return table


def build_table(coll: Collection, found: Head) -> tuple[int, Table]:
    """(generation read, table): one streamed pass over a snapshot's vectors (CHUNK at a time) through the head's
    class half."""
    ids_parts, prob_parts = [], []
    with coll.snapshot() as snap:
        for ids, vectors in snap.batches(CHUNK):
            ids_parts.append(ids)
            prob_parts.append(head_mod.class_part(found, vectors).astype(np.float16))
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    probs = np.concatenate(prob_parts) if prob_parts else np.zeros((0, len(found.classes)), np.float16)
    return snap.generation, _table(ids, probs, float(head_mod.class_weight(found)))


def _table(ids: np.ndarray, probs: np.ndarray, weight: float) -> Table:
    """The table of these class halves, with its per-class bitmaps."""
    classes = probs.shape[1]
    size = (int(ids.max()) + 8) // 8 if len(ids) else 1
    members = np.zeros((classes, size), np.uint8)
    for c in range(classes):
        bits = np.zeros(size * 8, bool)
        bits[ids[probs[:, c] >= MEMBER]] = True
        members[c] = np.packbits(bits, bitorder="little")
    counts = (probs >= MEMBER).sum(axis=0).astype(np.int64)
    return Table(ids, probs, members, counts, weight)


def _save(path: Path, generation: int, table: Table) -> None:
    """Write the table's arrays (the bitmaps are recomputed on reading), then remove the tables of other heads."""
    try:
        with atomic_output(path, force=True, mode="wb") as fh:
            np.savez(fh, format=np.int64(FORMAT), generation=np.int64(generation), ids=table.ids, probs=table.probs,
                     weight=np.float64(table.weight))
    except OSError as exc:  # a cache: a read-only or full disk costs the next start a rebuild, nothing else
        log.warning("learned search table not saved (%s)", exc)
        return
    for old in path.parent.glob(f"{TABLE_PREFIX}*.npz"):
        if old != path:
            old.unlink(missing_ok=True)


def _load(path: Path, generation: int, found: Head) -> Table | None:
    """The saved table when it was built at `generation` for this head; else None (rebuilt by the caller)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != FORMAT or int(data["generation"]) != generation:
                return None
            ids, probs, weight = data["ids"], data["probs"], float(data["weight"])
    except (OSError, KeyError, ValueError):
        return None
    if probs.ndim != 2 or probs.shape != (len(ids), len(found.classes)) or weight != head_mod.class_weight(found):
        return None
    return _table(ids.astype(np.int64), probs.astype(np.float16), weight)


def search(index: faiss.Index, table: Table, dim: int, queries: np.ndarray, fetch: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) [len(queries), fetch] of learned-space `queries` over the raw `index`, best first; ids -1 pad."""
    queries = np.asarray(queries, dtype=np.float32)
    scale = 1.0 / math.sqrt(1.0 + table.weight ** 2)
    scores = np.full((len(queries), fetch), -np.inf, dtype=np.float32)
    out = np.full((len(queries), fetch), -1, dtype=np.int64)
    for n, query in enumerate(queries):
        q_r, q_c = query[:dim], query[dim:]
        length = float(np.linalg.norm(q_r))
        raw = np.ascontiguousarray((q_r / max(length, 1e-12))[None, :])
        found_scores, found_ids = [], []
        searches = [(None, max(RAW_FETCH, fetch)), *((p, CLASS_FETCH) for p in _class_params(index, table, q_c))]
        for params, k in searches:
            if k == 0:
                continue
            d, i = index.search(raw, min(k, index.ntotal), params=params)
            found_scores.append(d[0])
            found_ids.append(i[0])
        ids, first = np.unique(np.concatenate(found_ids), return_index=True)
        raw_scores = np.concatenate(found_scores)[first]
        keep = ids >= 0
        known, bonus = table.bonus(ids[keep], q_c)
        cand = ids[keep][known]
        total = scale * (length * raw_scores[keep][known] + table.weight * bonus)
        top = np.argsort(-total, kind="stable")[:fetch]
        scores[n, : len(top)], out[n, : len(top)] = total[top], cand[top]
    return scores, out


def _class_params(index: faiss.Index, table: Table, q_c: np.ndarray) -> list[faiss.SearchParameters]:
    """Search parameters restricting the raw index to the images leaning to one of the query's classes, one per
    class (none when the query leans to no class)."""
    if not len(q_c) or float(q_c.max()) <= 0:
        return []
    order = np.argsort(-q_c)[:MAX_CLASSES]
    classes = [int(c) for c in order if q_c[c] >= QUERY_CLASS * q_c.max() and table.counts[c]]
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:  # an exact (flat) index: the selector alone
        ivf = None
    out = []
    for c in classes:
        bitmap = table.members[c]
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        if ivf is None:
            params = faiss.SearchParameters(sel=selector)
        else:
            wanted = math.ceil(SEEN * CLASS_FETCH * ivf.nlist / max(1, int(table.counts[c])))
            nprobe = int(min(ivf.nlist, MAX_NPROBE, max(ivf.nprobe, wanted)))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        params.referenced = (selector, bitmap)  # what the C++ side points to must outlive the search
        out.append(params)
    return out
