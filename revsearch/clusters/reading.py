"""Reading a collection's clusters (the k-means, writing and merging live in clusters/making.py; the package
`revsearch.clusters` offers both).

Members are read as arrays — (cluster id, image id, similarity), one row per member, no Python object each — and only
the members a caller shows (representatives, outliers, one page of a cluster) get a path and a `Member`: a million
members read in about a second. Images indexed since the last assignment are placed in their nearest cluster on the
fly (computed, not stored: reading writes nothing).

Public API (all take an open `Collection`; re-exported by revsearch.clusters):
    clustering(coll, n_representatives=8, n_outliers=4) -> Clustering | None     read (never writes)
    cluster(coll, cluster_id, ...) -> Cluster                          one cluster (error if unknown)
    members(coll, cluster_id, limit=None) -> list[Member]              best (closest to centroid) first
    assignments(coll, ids=None) -> dict[int, int]                      image id -> cluster id
    cluster_name(coll, cluster_id) -> str | None                       its name (error if unknown)
    names(coll) -> dict[int, str | None]                               every cluster's name, no members read
    typical(coll, n) -> list[int]                                      n varied images, one per cluster in turn
    version(coll) -> str                                               changes when clusters are remade, renamed, merged
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from revsearch import learned
from revsearch.collection import Collection, cluster_store
from revsearch.errors import MAKE_CLUSTERS, Hint, RevsearchError
from revsearch.neighbours import nearest

META_GENERATION = "clusters_generation"
META_K = "clusters_k"
META_SEED = "clusters_seed"
META_CREATED = "clusters_created_at"


@dataclass(frozen=True)
class Member:
    """One image of a cluster and its cosine similarity to the cluster centroid."""

    id: int
    path: str
    similarity: float

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "similarity": round(self.similarity, 6)}


@dataclass
class Cluster:
    id: int
    name: str | None
    size: int
    cohesion: float  # mean cosine similarity of the members to the centroid (0.0 for an empty cluster)
    representatives: list[Member]  # closest to the centroid first
    outliers: list[Member]  # farthest from the centroid first
    member_ids: list[int]  # all members, closest first

    def as_dict(self, paths: dict[int, str] | None = None) -> dict:
        out = {"id": self.id, "name": self.name, "size": self.size, "cohesion": round(self.cohesion, 6),
               "representatives": [m.path for m in self.representatives],
               "outliers": [m.path for m in self.outliers]}
        if paths is not None:
            out["members"] = [paths[i] for i in self.member_ids if i in paths]
        return out


@dataclass
class Clustering:
    k: int  # clusters made by the last recluster (merges may leave fewer)
    seed: int
    created_at: float
    clusters: list[Cluster]  # by id
    unassigned: int = 0  # indexed images without a cluster (0 after the lazy assignment)


@dataclass(frozen=True)
class _Members:
    """Members as parallel arrays, ordered by cluster, then closest first, then image id."""

    cluster: np.ndarray  # int64
    image: np.ndarray  # int64
    similarity: np.ndarray  # float64

    def of(self, cluster_id: int) -> "_Members":
        lo, hi = np.searchsorted(self.cluster, [cluster_id, cluster_id + 1])
        return _Members(self.cluster[lo:hi], self.image[lo:hi], self.similarity[lo:hi])


def pending(coll: Collection) -> list[cluster_store.MemberRow]:
    """(image id, nearest cluster id, similarity, hash) of indexed images without a current cluster — not stored."""
    with coll.reading():
        if coll.meta(META_GENERATION) == str(coll.generation):
            return []
        cids, centroids = cluster_store.centroids(coll)
        if len(cids) == 0:
            return []
        hashes = cluster_store.unplaced(coll)
        if not hashes:
            return []
        found, vectors = coll.vectors(list(hashes))
        vectors, centroids = learned.comparable(coll, vectors, centroids)
    best, sims = nearest(vectors, centroids)
    return [(int(i), int(cids[b]), float(s), hashes.get(int(i))) for i, b, s in zip(found, best, sims)]


def _placed(coll: Collection, cluster_id: int | None = None) -> tuple[_Members, int | None]:
    """(stored members with the on-the-fly assignment of unassigned or changed images laid over them, of one
    cluster or of all; how many shown images have no stored cluster — None when no image is pending)."""
    stored = cluster_store.member_arrays(coll, cluster_id)
    rows = pending(coll)
    if not rows:
        return _Members(*stored), None
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    cids = np.array([r[1] for r in rows], dtype=np.int64)
    sims = np.array([r[2] for r in rows], dtype=np.float64)
    shown = np.isin(ids, np.fromiter(coll.paths(ids.tolist()), dtype=np.int64))
    if cluster_id is not None:
        shown &= cids == int(cluster_id)
    fresh = int((shown & ~np.isin(ids, stored[1])).sum())
    keep = ~np.isin(stored[1], ids)  # a pending image's stored cluster (if any) is out of date
    cluster = np.concatenate([stored[0][keep], cids[shown]])
    image = np.concatenate([stored[1][keep], ids[shown]])
    sim = np.concatenate([stored[2][keep], sims[shown]])
    order = np.lexsort((image, -sim, cluster))
    return _Members(cluster[order], image[order], sim[order]), fresh


def clustering(coll: Collection, n_representatives: int = 8, n_outliers: int = 4,
               include_empty: bool = False) -> Clustering | None:
    """The current clustering (None if the collection was never clustered); images not assigned yet are shown in
    their nearest cluster (computed, not stored: reading writes nothing)."""
    with coll.reading():
        meta = {k: coll.meta(k) for k in (META_K, META_SEED, META_CREATED)}
        names = cluster_store.names(coll)
        if not names:
            return None
        placed, fresh = _placed(coll)
        unassigned = 0 if fresh is None else cluster_store.unassigned_count(coll) - fresh
        clusters = [_make_cluster(coll, cid, name, placed.of(cid), n_representatives, n_outliers)
                    for cid, name in names.items()]
    return Clustering(int(meta[META_K] or len(names)), int(meta[META_SEED] or 0), float(meta[META_CREATED] or 0.0),
                      [c for c in clusters if c.size or include_empty], unassigned)


def _make_cluster(coll: Collection, cid: int, name: str | None, ms: _Members, n_rep: int, n_out: int) -> Cluster:
    size = len(ms.image)
    cohesion = float(ms.similarity.mean()) if size else 0.0
    rep = np.arange(min(n_rep, size))
    out = np.arange(size - 1, size - 1 - min(n_out, size), -1) if n_out > 0 and size > n_rep else np.arange(0)
    paths = coll.paths(ms.image[np.concatenate([rep, out])].tolist())
    members = [Member(int(ms.image[r]), paths.get(int(ms.image[r]), ""), float(ms.similarity[r])) for r in rep]
    outliers = [Member(int(ms.image[r]), paths.get(int(ms.image[r]), ""), float(ms.similarity[r])) for r in out]
    return Cluster(cid, name, size, cohesion, members, outliers, ms.image.tolist())


def members(coll: Collection, cluster_id: int, limit: int | None = None) -> list[Member]:
    """Members of one cluster, closest to the centroid first (the first `limit` of them when given)."""
    cluster_name(coll, cluster_id)
    with coll.reading():
        placed, _ = _placed(coll, int(cluster_id))
        ids, sims = placed.image[:limit], placed.similarity[:limit]
        paths = coll.paths(ids.tolist())
    return [Member(int(i), paths[int(i)], float(s)) for i, s in zip(ids, sims) if int(i) in paths]


def typical(coll: Collection, n: int) -> list[int]:
    """Up to `n` varied images: the most typical image of each cluster in id order (largest first after a
    recluster), then the second of each, … — read through the index, not the members of every cluster (images not
    assigned yet are not among them)."""
    with coll.reading():
        tops = [cluster_store.top_members(coll, cid, n) for cid in list(cluster_store.names(coll))[:n]]
    return [t[r] for r in range(n) for t in tops if r < len(t)][:n]


def cluster(coll: Collection, cluster_id: int, n_representatives: int = 8, n_outliers: int = 4) -> Cluster:
    name = cluster_name(coll, cluster_id)
    with coll.reading():
        placed, _ = _placed(coll, int(cluster_id))
        return _make_cluster(coll, int(cluster_id), name, placed, n_representatives, n_outliers)


def names(coll: Collection) -> dict[int, str | None]:
    """cluster id -> name (None when unnamed) of every cluster, without reading members (empty when unclustered)."""
    return cluster_store.names(coll)


def cluster_name(coll: Collection, cluster_id: int) -> str | None:
    """A cluster's name (None when unnamed); a clear error when the cluster does not exist."""
    names = cluster_store.names(coll)
    if int(cluster_id) not in names:
        if not names:
            raise RevsearchError("the collection has no clusters yet", Hint(MAKE_CLUSTERS))
        raise RevsearchError(f"no cluster {cluster_id}; the clusters are {', '.join(str(c) for c in names)}")
    return names[int(cluster_id)]


def version(coll: Collection) -> str:
    """Changes whenever the clusters are remade, renamed or merged (for caches of views that show them)."""
    with coll.reading():
        names = cluster_store.names(coll)
        created = coll.meta(META_CREATED) or ""
    return created + "/" + ",".join(f"{c}:{n or ''}" for c, n in names.items())


def assignments(coll: Collection, ids: Sequence[int] | None = None) -> dict[int, int]:
    """image id -> cluster id of every clustered image, or of those among `ids` (empty without a clustering)."""
    with coll.reading():
        out = cluster_store.assignments(coll, ids)
        placed = {r[0]: r[1] for r in pending(coll)}
    out.update(placed if ids is None else {i: placed[i] for i in ids if i in placed})
    return out
