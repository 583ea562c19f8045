"""Near-duplicate groups: images whose cosine similarity is at least a threshold, joined transitively.

Pairs come from a FAISS range search over the collection's vectors (exact inner product; past INDEX_ABOVE images through
the collection's index, candidates re-scored exactly); groups are the connected
components of those pairs (union-find). Exact copies — files with identical content, recorded at indexing time as
status 'duplicate' of their original — join their original's group with score 1.0 and are marked `exact`. A group
whose pairs are all exact is itself marked `exact`.

Pairs a person marked "not a duplicate" (revsearch/collection/duplicate_store.py) are left out before grouping, so
a member dismissed from a group leaves it unless another, unmarked pair still ties it in.

Each member carries `score`: its similarity to the group's anchor (the member with the strongest links), so a
reviewer sees at a glance which copy is the odd one out; `pairs` lists the strongest pairs with their scores.

The default threshold depends on the collection's input handling (revsearch/embed/views.py), measured on
clothing-small (713 photos) with efficientnet_lite0 (benchmarks/explore_quality.py, 60 photos × 9 edits):

- `letterbox`: 0.90. Copies resized to 50 %, re-encoded at JPEG q=40, cropped to 95 %, brightened 15 % or mirrored
  all score ≥ 0.935 against their original; a 90 % corner crop and a resize + re-encode + crop combination score
  ≥ 0.90 for 97 % of photos. Different photos stay below: 711 of 713 photos' nearest other photo scores < 0.90
  (median 0.735, p99 0.892; the one pair above, 0.928, is two white t-shirts shot on the same pink cloth). Not caught
  at 0.90: heavy downsizing (25 %: median 0.92, 70 % caught) and 20 % crops (median 0.90) — lower the threshold to
  ~0.85 to catch those, at the price of more look-alikes.
- `letterbox+native`: 0.92. Two views average away what is particular to one view, so different photos score
  higher (nearest other photo: median 0.751, p99 0.909; 12 photos ≥ 0.90, the same 2 as above ≥ 0.92). At 0.92 the
  five light edits are all caught (≥ 0.944), a 90 % corner crop 95 %, the combination 88 %, 20 % crops 50 %, 25 %
  downsizing 23 %.

The similar pairs of the last comparison are kept in the collection (duplicate_store.Scan) with the generation and
threshold they were found at: while the collection does not change, any threshold at or above that one is answered
from them without comparing again (a million images take minutes), in this process or the next.

Public API:
    find_duplicates(coll, threshold=None, include_exact=True, progress=None) -> list[DuplicateGroup]
    default_threshold(coll) -> float              the threshold measured for the collection's input handling
    scanned(coll, threshold) -> bool              the kept comparison answers this threshold now
    pairs(coll, threshold=None, ids=None) -> [(a, b, score)]   pairs not marked "not a duplicate" (of `ids` only)
    top1_similarities(coll) -> (ids, scores)      each indexed image's best similarity to another image
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from revsearch.collection import Collection, duplicate_store, vector_index
from revsearch.input_modes import LETTERBOX, TWO_VIEWS
from revsearch.errors import RevsearchError
from revsearch.neighbours import knn, within
from revsearch.progress import Progress, report

log = logging.getLogger(__name__)
THRESHOLDS = {LETTERBOX: 0.90, TWO_VIEWS: 0.92}  # by input handling, see above
MAX_PAIRS_PER_GROUP = 200
_CHUNK = 2048
#: Above this many images pairs come from range searches through the collection's (ANN) index, chunk by chunk, instead
#: of an exact all-pairs scan over every vector in RAM; candidates are re-scored exactly.
INDEX_ABOVE = 100_000
INDEX_MARGIN = 0.02  # SQ8 codes shift scores by up to ~0.01: search a little below the threshold, then re-score


@dataclass(frozen=True)
class Pair:
    a: int
    b: int
    score: float
    exact: bool

    def as_dict(self, paths: dict[int, str]) -> dict:
        return {"a": paths.get(self.a), "b": paths.get(self.b), "score": round(self.score, 6), "exact": self.exact}


@dataclass(frozen=True)
class GroupMember:
    id: int
    path: str
    score: float  # cosine similarity to the group's anchor (1.0 for the anchor and for its exact copies)
    exact: bool  # an exact copy (status 'duplicate') of another member

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "score": round(self.score, 6), "exact": self.exact}


@dataclass
class DuplicateGroup:
    id: int
    members: list[GroupMember]  # anchor first, then by score
    pairs: list[Pair] = field(default_factory=list)  # strongest first (at most MAX_PAIRS_PER_GROUP)
    max_score: float = 0.0
    min_score: float = 0.0  # weakest pair that holds the group together
    exact: bool = False  # every pair is an exact (same content) copy

    def as_dict(self) -> dict:
        paths = {m.id: m.path for m in self.members}
        return {"id": self.id, "size": len(self.members), "exact": self.exact, "max_score": round(self.max_score, 6),
                "min_score": round(self.min_score, 6), "members": [m.as_dict() for m in self.members],
                "pairs": [p.as_dict(paths) for p in self.pairs]}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _similar_pairs(vectors: np.ndarray, threshold: float, progress: Progress | None) -> list[tuple[int, int, float]]:
    """(row i, row j, score) with i < j and score ≥ threshold."""
    out: list[tuple[int, int, float]] = []
    n = len(vectors)
    for start, lims, scores, rows in within(vectors, threshold, _CHUNK):
        report(progress, start, n, "comparing vectors")
        for q in range(len(lims) - 1):
            i = start + q
            for s, j in zip(scores[lims[q] : lims[q + 1]], rows[lims[q] : lims[q + 1]]):
                if j > i and s >= threshold - 1e-6:
                    out.append((i, int(j), float(min(s, 1.0))))
    report(progress, n, n, "grouping")
    return out


def _indexed_pairs(coll: Collection, threshold: float, progress: Progress | None,
                   batches: Iterable[tuple[np.ndarray, np.ndarray]] | None = None,
                   total: int | None = None) -> list[tuple[int, int, float]]:
    """(id a, id b, exact score) with a < b and score ≥ threshold, found by range searches through the index: memory
    is one chunk of vectors plus the candidates, whatever the collection's size. `batches` (ids, vectors) are the
    images to search from (default: every one); each pair is found from either end."""
    index = coll.index()
    candidates: set[tuple[int, int]] = set()
    done, n = 0, index.ntotal if total is None else total
    for ids, vecs in coll.iter_vectors(_CHUNK) if batches is None else batches:
        report(progress, done, n, "comparing vectors")
        lims, _, found = index.range_search(vecs, threshold - INDEX_MARGIN)
        for q in range(len(ids)):
            a = int(ids[q])
            candidates.update((min(a, int(b)), max(a, int(b))) for b in found[lims[q] : lims[q + 1]] if b != a)
        done += len(ids)
    report(progress, n, n, "grouping")
    if not candidates:
        return []
    found_ids, vectors = coll.vectors(sorted({i for pair in candidates for i in pair}))
    row_of = {int(i): r for r, i in enumerate(found_ids)}
    out = []
    for a, b in sorted(candidates):
        if a in row_of and b in row_of:
            s = float(vectors[row_of[a]] @ vectors[row_of[b]])
            if s >= threshold - 1e-6:
                out.append((a, b, min(s, 1.0)))
    return out


def pairs(coll: Collection, threshold: float | None = None, ids: Sequence[int] | None = None,
          progress: Progress | None = None) -> list[tuple[int, int, float]]:
    """Near-duplicate pairs (id a < id b, score ≥ threshold, default `default_threshold`) a person did not mark "not a
    duplicate": all of them (the kept comparison, else a full one), or only those involving `ids` — one range search
    from those images through the index, so a few new images of a million are compared in seconds."""
    threshold = default_threshold(coll) if threshold is None else threshold
    if ids is None:
        found = similar_pairs(coll, threshold, progress)
    else:
        wanted = sorted({int(i) for i in ids})
        batches = (coll.vectors(wanted[start : start + _CHUNK]) for start in range(0, len(wanted), _CHUNK))
        found = _indexed_pairs(coll, threshold, progress, batches, len(wanted)) if wanted else []
    dismissed = duplicate_store.marked(coll)
    return [(a, b, s) for a, b, s in found if (min(a, b), max(a, b)) not in dismissed]


def dismissed_pairs(coll: Collection) -> int:
    """How many pairs are marked "not a duplicate" (`dedupe.not_a_duplicate`): groups change when it moves."""
    return len(duplicate_store.marked(coll))


def scanned(coll: Collection, threshold: float) -> bool:
    """Whether the kept scan answers `threshold` for the collection as it is now (same generation, scanned at this
    threshold or a lower one): `find_duplicates` then compares nothing."""
    return _answers(duplicate_store.scan_key(coll), coll, threshold)


def forget_comparison(coll: Collection) -> None:
    """Forget the kept comparison, so the next `find_duplicates` compares every image again (what a first scan of
    the collection costs; benchmarks time it)."""
    duplicate_store.forget_scan(coll)


def _answers(key: tuple[int, float] | None, coll: Collection, threshold: float) -> bool:
    return key is not None and key[0] == coll.generation and key[1] <= threshold + 1e-9


def similar_pairs(coll: Collection, threshold: float,
                  progress: Progress | None = None) -> list[tuple[int, int, float]]:
    """(id a, id b, score) with a < b and score ≥ threshold: from the kept scan when it answers, else compared now
    and kept (replacing the previous scan)."""
    scan = duplicate_store.load_scan(coll)
    if scan is None or not _answers((scan.generation, scan.threshold), coll, threshold):
        scan = _scan(coll, threshold, progress)
        try:
            duplicate_store.save_scan(coll, scan)
        except (OSError, RevsearchError) as exc:  # a full disk: the groups are still shown, only not kept
            log.warning("could not keep the comparison in %s: %s", coll.directory, exc)
    keep = scan.score >= threshold - 1e-6
    return list(zip(scan.a[keep].tolist(), scan.b[keep].tolist(), scan.score[keep].astype(float).tolist()))


def _scan(coll: Collection, threshold: float, progress: Progress | None) -> duplicate_store.Scan:
    generation, started = coll.generation, time.perf_counter()
    if coll.counts()["indexed"] > INDEX_ABOVE:
        similar = _indexed_pairs(coll, threshold, progress)
    else:
        ids, vectors = coll.vectors()
        similar = [(int(ids[i]), int(ids[j]), s) for i, j, s in
                   _similar_pairs(np.ascontiguousarray(vectors), threshold, progress)] if len(ids) > 1 else []
    table = np.array(similar, dtype=np.float64).reshape(-1, 3)
    return duplicate_store.Scan(generation, threshold, table[:, 0].astype(np.int64), table[:, 1].astype(np.int64),
                                table[:, 2].astype(np.float32), time.perf_counter() - started, time.time())


def default_threshold(coll: Collection) -> float:
    """The similarity from which two images of this collection count as near-duplicates by default."""
    return THRESHOLDS[coll.input_mode]


def find_duplicates(coll: Collection, threshold: float | None = None, include_exact: bool = True,
                    progress: Progress | None = None) -> list[DuplicateGroup]:
    """Groups of near-identical images (≥ threshold, default `default_threshold`) plus exact copies; largest score
    first."""
    if threshold is None:
        threshold = default_threshold(coll)
    if not -1.0 <= threshold <= 1.0:
        raise RevsearchError("the duplicate threshold is a cosine similarity between -1 and 1 (e.g. 0.9)")
    uf = _UnionFind()
    linked: list[Pair] = []
    for a, b, s in pairs(coll, threshold, progress=progress):
        linked.append(Pair(a, b, s, False))
        uf.union(a, b)
    original_of: dict[int, int] = {}
    if include_exact:
        exact_rows = [(r.id, r.duplicate_of) for r in coll.rows("duplicate") if r.duplicate_of is not None]
        for dup, orig in exact_rows:
            original_of[int(dup)] = int(orig)
            linked.append(Pair(int(orig), int(dup), 1.0, True))
            uf.union(int(orig), int(dup))
    if not linked:
        return []
    by_root: dict[int, list[Pair]] = {}
    for p in linked:
        by_root.setdefault(uf.find(p.a), []).append(p)
    all_ids = {i for p in linked for i in (p.a, p.b)}
    paths = coll.paths(sorted(all_ids))
    ids, vectors = coll.vectors(sorted(all_ids))  # members' vectors only (the anchor scores need nothing else)
    row_of = {int(i): n for n, i in enumerate(ids)}
    groups = []
    for root, group_pairs in by_root.items():
        member_ids = sorted({i for p in group_pairs for i in (p.a, p.b)})
        strength: dict[int, float] = {i: 0.0 for i in member_ids}
        for p in group_pairs:
            strength[p.a] += p.score
            strength[p.b] += p.score
        indexed = [i for i in member_ids if i in row_of]
        anchor = max(indexed or member_ids, key=lambda i: (strength[i], -i))
        anchor_vec = vectors[row_of[anchor]] if anchor in row_of else None

        def score(i: int) -> float:
            base = original_of.get(i, i)
            if anchor_vec is None or base not in row_of:
                return 1.0
            return float(min(1.0, vectors[row_of[base]] @ anchor_vec))

        members = [GroupMember(i, paths.get(i, ""), 1.0 if i == anchor else score(i), i in original_of)
                   for i in member_ids]
        members.sort(key=lambda m: (m.id != anchor, -m.score, m.id))
        group_pairs.sort(key=lambda p: (-p.score, p.a, p.b))
        groups.append(DuplicateGroup(0, members, group_pairs[:MAX_PAIRS_PER_GROUP],
                                     max(p.score for p in group_pairs), _weakest_link(member_ids, group_pairs),
                                     all(p.exact for p in group_pairs)))
    groups.sort(key=lambda g: (-g.max_score, -len(g.members), g.members[0].id))
    for n, g in enumerate(groups):
        g.id = n
    return groups


def _weakest_link(member_ids: list[int], pairs: list[Pair]) -> float:
    """The lowest score on the maximum spanning tree: the weakest pair needed to keep the group connected."""
    uf = _UnionFind()
    weakest = 1.0
    joined = 1
    for p in sorted(pairs, key=lambda p: -p.score):
        if uf.find(p.a) != uf.find(p.b):
            uf.union(p.a, p.b)
            weakest = min(weakest, p.score)
            joined += 1
            if joined == len(member_ids):
                break
    return weakest


def top1_similarities(coll: Collection) -> tuple[np.ndarray, np.ndarray]:
    """(ids, best cosine similarity of each indexed image to any other indexed image)."""
    if coll.counts()["indexed"] > INDEX_ABOVE:  # through the index, chunk by chunk
        out_ids, out = [], []
        index = coll.index()
        for ids, vecs in coll.iter_vectors(16_384):
            scores, found = vector_index.search(index, vecs, 2)
            out_ids.append(ids)
            out.append(np.where(found[:, 0] == ids, scores[:, 1], scores[:, 0]))
        return np.concatenate(out_ids), np.concatenate(out).astype(np.float32)
    ids, vectors = coll.vectors()
    if len(ids) < 2:
        return ids, np.zeros(len(ids), np.float32)
    scores, rows = knn(vectors, vectors, 2)
    own = rows[:, 0] == np.arange(len(ids))
    return ids, np.where(own, scores[:, 1], scores[:, 0])
