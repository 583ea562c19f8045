"""Making clusters of a collection: seeded spherical k-means over the (L2-normalised) vectors, persisted in the catalog.

A collection has at most one clustering at a time. Cluster ids are stable: images indexed later join the nearest
centroid (`assign_new`, a write run after indexing; reads place unassigned images on the fly and store nothing),
images removed from the collection leave their cluster, and only an explicit `recluster` renumbers. A recluster keeps a
cluster's name when most of its new members carried that name before.

Public API (all take an open `Collection`):
    recluster(coll, k, seed=0, progress=None) -> Clustering          full k-means; replaces the clustering
    suggest_k(coll, ks=None, sample=2000, seed=0, progress=None) -> KSuggestion   silhouette (cosine) per k
    assign_new(coll) -> int                                            place unassigned indexed images; count
    clustering, cluster, members, assignments, cluster_name, names, typical, version: clusters/reading.py
    merge_members(coll, ids, into=None, name=None) -> Cluster          storage step of a merge (users call
                                                                       labels.merge_clusters: labels and history too)

Naming a cluster labels its members, so it lives in labels.py (`labels.name_cluster`, `labels.merge_clusters`).

Similarity is cosine (inner product of unit vectors); cohesion is the mean similarity of members to the centroid.
Vectors are taken in the collection's learned space when it has one (learned.space_vectors): clusters made after
`learn` group by the labelled kinds too. Images placed later are compared with the centroids in the space the
clustering was made in, or on the raw part when the learned space changed since (learned.comparable).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from revsearch import learned
from revsearch.collection import Collection, cluster_store
from revsearch.clusters.reading import (META_CREATED, META_GENERATION, META_K, META_SEED, Cluster, Clustering,
                                       Member, assignments, cluster, cluster_name, clustering, members, names,
                                       typical, version)
from revsearch.clusters.reading import pending as _pending
from revsearch.collection.collection import GenerationMoved
from revsearch.errors import RevsearchError
from revsearch.neighbours import nearest, spherical_kmeans
from revsearch.progress import Progress, report
from revsearch.vectors import unit_rows

DEFAULT_SEED = 0
REDO = 3  # a long build whose input changed meanwhile is recomputed this many times at most
#: Above this many images k-means trains on a seeded sample of this size and assigns every image chunk by chunk from
#: a catalog snapshot (a million 1280-d vectors would be 5 GB in RAM at once).
SAMPLE_LIMIT = 200_000
ASSIGN_CHUNK = 16_384


@dataclass
class KSuggestion:
    best: int
    scores: dict[int, float]  # k -> mean silhouette (cosine) on the sample; higher is better
    sample_size: int
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"best": self.best, "scores": {str(k): round(v, 4) for k, v in self.scores.items()},
                "sample_size": self.sample_size, "seconds": round(self.seconds, 3)}


@dataclass
class _Fit:
    centroids: np.ndarray
    assign: np.ndarray
    sims: np.ndarray
    inertia: float = field(default=0.0)


# ---------------------------------------------------------------------------------------------------- k-means


def kmeans(vectors: np.ndarray, k: int, seed: int = DEFAULT_SEED, niter: int = 30, nredo: int | None = None) -> _Fit:
    """Spherical k-means (unit centroids, cosine); deterministic for the same vectors, k and seed.

    Trains on at most 256 points per centroid (a seeded sample), keeps the best of `nredo` random starts (default:
    10 on small collections, fewer as n·k grows so a big collection still clusters in seconds), then assigns every
    vector to its nearest centroid. On clothing-small, 10 starts instead of 3 lifted k=10 purity from 0.63 to 0.70.
    """
    n, dim = vectors.shape
    if k < 1:
        raise RevsearchError("k must be at least 1")
    if k > n:
        raise RevsearchError(f"k = {k} is more than the {n} indexed images")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if k == 1:
        centroids = unit_rows(x.mean(axis=0, keepdims=True))
    else:
        if nredo is None:
            nredo = int(np.clip(5_000_000 // (min(n, 256 * k) * k), 1, 10))
        centroids = spherical_kmeans(x, k, seed, niter=niter, nredo=nredo)
    assign, best = nearest(x, centroids)
    return _Fit(centroids, assign, best, float(best.sum()))


def _fit_streamed(coll: Collection, k: int, seed: int, sample: int) -> tuple[int, np.ndarray, _Fit]:
    """(generation, ids, fit): k-means trained on `sample` vectors drawn from a snapshot, then every vector of the
    same snapshot assigned chunk by chunk — memory is the sample plus one chunk, whatever the collection's size."""
    with coll.snapshot() as snap:
        n = snap.n
        if not 1 <= k <= n:
            raise RevsearchError(f"k = {k} is more than the {n} indexed images" if k > n else "k must be at least 1")
        centroids = kmeans(snap.sample(sample, np.random.default_rng(seed)), k, seed=seed).centroids
        ids, assign, sims = [], [], []
        for chunk_ids, vecs in snap.batches(ASSIGN_CHUNK):
            a, s = nearest(vecs, centroids)
            ids.append(chunk_ids)
            assign.append(a)
            sims.append(s)
        best = np.concatenate(sims)
        return snap.generation, np.concatenate(ids), _Fit(centroids, np.concatenate(assign), best, float(best.sum()))


def suggest_k(coll: Collection, ks: Sequence[int] | None = None, sample: int = 2000, seed: int = DEFAULT_SEED,
              progress: Progress | None = None) -> KSuggestion:
    """Score each k by the mean cosine silhouette of k-means on a seeded sample; the best is the highest score.

    Default range: 2 … min(30, n // 5). On photo embeddings k = 2 nearly always wins silhouette by splitting off one
    dominant contrast (on clothing-small: shoes vs. everything else), which is useless for labelling, so `best` is
    the highest-scoring k ≥ 3 whenever the range holds one; every score is returned so a user can pick another.
    """
    from sklearn.metrics import silhouette_score

    started = time.perf_counter()
    with coll.snapshot() as snap:  # the same seeded positions as sampling coll.vectors(), without loading them all
        n = snap.n
        x = snap.sample(sample, np.random.default_rng(seed)) if n >= 3 else np.zeros((n, coll.dim), np.float32)
    x = learned.space_vectors(coll, x)  # clusters follow the person's labels once a head exists
    if n < 3:
        raise RevsearchError(f"need at least 3 indexed images to suggest a number of clusters (have {n})")
    if ks is None:
        ks = range(2, max(3, min(30, n // 5)) + 1)
    ks = [k for k in ks if 2 <= k < n]
    if not ks:
        raise RevsearchError(f"no k to try between 2 and {n - 1}")
    scores: dict[int, float] = {}
    for done, k in enumerate(ks):
        report(progress, done, len(ks), f"k = {k}")
        fit = kmeans(x, k, seed=seed, nredo=1)
        labels = fit.assign
        scores[k] = float(silhouette_score(x, labels, metric="cosine")) if len(set(labels.tolist())) > 1 else -1.0
    report(progress, len(ks), len(ks), "done")
    eligible = [k for k in scores if k >= 3] or list(scores)
    best = max(eligible, key=lambda k: (scores[k], -k))
    return KSuggestion(best, scores, len(x), time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------- writing


def recluster(coll: Collection, k: int, seed: int = DEFAULT_SEED, progress: Progress | None = None) -> Clustering:
    """Cluster every indexed image into `k` clusters, replacing the current clustering.

    Ids run 0 … k-1 by size (largest first). A name survives when more than half of a new cluster's members were in
    one old cluster of that name (each name goes to at most one new cluster). Image labels are never touched here.
    """
    for _attempt in range(REDO):
        try:
            return _recluster(coll, k, seed, progress)
        except GenerationMoved:
            continue  # images were added or went missing while k-means ran: cluster what is there now
    raise RevsearchError("the collection kept changing while clustering (is an `index` running?); "
                         "cluster again when it is done")


def _recluster(coll: Collection, k: int, seed: int, progress: Progress | None) -> Clustering:
    """One k-means, computed outside the lock, written only if the vectors did not change (raw above SAMPLE_LIMIT)."""
    n = coll.counts()["indexed"]
    if n == 0:
        raise RevsearchError("the collection has no indexed images to cluster")
    if not 1 <= k <= n:
        raise RevsearchError(f"k = {k} is more than the {n} indexed images" if k > n else "k must be at least 1")
    report(progress, 1, 3, f"k-means, k = {k}, {n} images")
    if n > SAMPLE_LIMIT:
        hashes = coll.indexed_hashes()  # read first: a file changed after it gets re-assigned by assign_new
        generation, ids, fit = _fit_streamed(coll, k, seed, SAMPLE_LIMIT)
    else:
        with coll.reading():
            generation = coll.generation
            ids, vectors = coll.vectors()
            hashes = coll.indexed_hashes()
        fit = kmeans(learned.space_vectors(coll, vectors), k, seed=seed)
    # Number by size (desc), then by the smallest member id, so ids do not depend on faiss's internal order.
    sizes = np.bincount(fit.assign, minlength=k)
    first = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first, fit.assign, ids)
    order = sorted(range(k), key=lambda c: (-sizes[c], first[c]))
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(k)
    new_assign = renumber[fit.assign]
    centroids = fit.centroids[order]
    report(progress, 2, 3, "saving")
    cluster_store.replace(coll, centroids, [(int(i), int(c), float(sim), hashes.get(int(i)))
                                            for i, c, sim in zip(ids, new_assign, fit.sims)],
                          lambda old: _carry_names(old, ids, new_assign),  # names of the clustering replaced
                          {META_K: k, META_SEED: seed, META_CREATED: time.time(), META_GENERATION: generation},
                          generation=generation)
    report(progress, 3, 3, "done")
    result = clustering(coll)
    if result is None:
        raise RevsearchError("the clustering just made could not be read back (the catalog changed meanwhile?)")
    return result


def _carry_names(old: dict[int, str], ids: np.ndarray, new_assign: np.ndarray) -> dict[int, str]:
    """new cluster id -> old name, when most of the new cluster's members sat in one old cluster with that name."""
    if not old:
        return {}
    candidates = []
    for c in np.unique(new_assign):
        member_ids = ids[new_assign == c]
        votes = Counter(old[int(i)] for i in member_ids if int(i) in old)
        if votes:
            name, count = votes.most_common(1)[0]
            if count * 2 > len(member_ids):
                candidates.append((count, int(c), name))
    out: dict[int, str] = {}
    taken: set[str] = set()
    for count, c, name in sorted(candidates, key=lambda t: (-t[0], t[1])):
        if name not in taken:
            out[c] = name
            taken.add(name)
    return out


def assign_new(coll: Collection) -> int:
    """Store the nearest-centroid cluster of indexed images that have none (new, or whose file content changed).

    Cluster ids, names and centroids are unchanged. Cheap when nothing changed (one meta read). Returns how many
    images were (re)assigned; 0 when there is no clustering yet. Called after indexing and before edits — reads
    never call it: they compute the same assignment on the fly (`_pending`) and write nothing.
    """
    with coll.lock:
        generation = coll.generation
        if coll.meta(META_GENERATION) == str(generation):
            return 0
        rows = _pending(coll)
        if not cluster_store.names(coll):
            return 0
        cluster_store.assign(coll, rows, {META_GENERATION: generation})  # a short write of its own
        return len(rows)


# ---------------------------------------------------------------------------------------------------- editing


def merge_members(coll: Collection, ids: Sequence[int], into: int | None = None,
                  name: str | None = None) -> Cluster:
    """The storage step of a merge: move every member of clusters `ids` into one cluster (`into`, default the
    smallest id) and drop the others. Labels and history are untouched: users call `labels.merge_clusters`.

    The kept cluster's centroid becomes the normalised mean of all its members' vectors. Its name: `name` if given,
    else its own, else the first name among the merged clusters.
    """
    ids = sorted({int(i) for i in ids} | ({int(into)} if into is not None else set()))
    if len(ids) < 2:
        raise RevsearchError("give at least two clusters to merge")
    names = {i: cluster_name(coll, i) for i in ids}
    target = int(into) if into is not None else ids[0]
    assign_new(coll)
    with coll.lock:
        found, vectors = coll.vectors(cluster_store.member_ids(coll, ids))
        cids, cents = cluster_store.centroids(coll)
        if len(found):
            vectors, _ = learned.comparable(coll, vectors, cents)
            centroid = unit_rows(vectors.mean(axis=0, keepdims=True))[0]
            sims = vectors @ centroid
            # a raw centroid among learned ones (the space changed since clustering): same width, same raw part
            centroid = np.pad(centroid, (0, max(0, cents.shape[1] - len(centroid))))
        else:
            centroid = cents[list(cids).index(target)]
            sims = np.zeros(0, np.float32)
        new_name = name or names[target] or next((names[i] for i in ids if names[i]), None)
        cluster_store.merge(coll, target, ids, centroid, new_name,
                            [(int(i), float(s)) for i, s in zip(found, sims)])
    return cluster(coll, target)
