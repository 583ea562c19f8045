"""The 2-D map of a collection: UMAP (cosine, seeded) over the vectors, persisted and updated incrementally.

Coordinates live in the catalog (`projection` table). What the last UMAP fit learnt is kept next to it as plain
numeric arrays (`<collection>/map-reducer.npz`: the fitted images' ids, vectors and 2-D positions; written atomically,
read with `allow_pickle=False`) — never as a pickle, because a collection folder may come from someone else and
unpickling it could run their code. `update_map` is cheap to call on every page view: it does nothing
when the collection's generation has not moved since the map was made. When it has moved:

- images removed from the collection simply leave the map (their rows cascade away);
- new images (or images whose file content changed) are placed among the fitted points: at the similarity-weighted
  mean position of their `N_NEIGHBORS` most similar fitted images (cosine), so the existing points do not move;
- the whole map is refitted when asked (`force=True`) or when more than `refit_fraction` of the points are new,
  changed or gone since the last fit (the old layout would no longer describe the collection);
- past FIT_LIMIT images UMAP is fitted on a seeded sample of FIT_LIMIT and every other image is placed as above;
- a refit is aligned to the map it replaces (`align`: Procrustes on the images both have), so groups stay about where
  they were, after learning too.

The map is laid out in the collection's learned space when it has one (learned.space_vectors), and fitted again
when that space gains or loses a kind of label (learned.space_key).

Collections with fewer than `MIN_UMAP` (20) images get a PCA projection instead (refitted on every change, it is
instant); one image sits at (0, 0), two at (±1, 0).

UMAP is imported lazily (numba makes the import take seconds). Fitting 713 vectors takes ≈12 s in a fresh process
on 2 CPU cores, most of it numba compiling; progress is reported through the epochs.

Public API:
    update_map(coll, progress=None, force=False, refit_fraction=0.2, seed=0) -> MapUpdate
    map_points(coll, update=True, progress=None, limit=None, include=()) -> list[MapPoint]   cluster id and label
                                             per point; with `limit` a fixed seeded sample (a large map's view)
    map_size(coll) -> int                    how many points the whole map has
    store_layout(coll, ids, xy, method, generation)   keep a layout made elsewhere as the map
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from revsearch import learned
from revsearch.clusters import REDO, assignments
from revsearch.collection import Collection, map_store
from revsearch.collection.collection import GenerationMoved
from revsearch.errors import RevsearchError
from revsearch.progress import Progress, report

MIN_UMAP = 20
#: Past this many images the map is fitted on a seeded sample of this size and the rest placed among it.
FIT_LIMIT = 20_000
PLACE_CHUNK = 8_192
REFIT_FRACTION = 0.2
REDUCER_FILE = "map-reducer.npz"
LEGACY_REDUCER_FILE = "map-reducer.pkl"  # written by older versions; deleted on the next fit, never read
PLACE_TEMPERATURE = 0.05  # neighbour weight exp((similarity - best) / T): the closest fitted images dominate
DEFAULT_SEED = 0
N_NEIGHBORS = 15
MIN_DIST = 0.1

META_GENERATION = "map_generation"
META_METHOD = "map_method"  # umap | pca | trivial
META_FITS = "map_fits"  # how many fits this collection has seen (tests use it to prove reuse)
META_FITTED_N = "map_fitted_n"
META_FITTED_AT = "map_fitted_at"
META_SPACE = "map_space"  # learned.space_key the map was fitted in ("raw" for maps made before learning existed)


@dataclass
class MapUpdate:
    """What `update_map` did: action is 'cached', 'fit', 'transform', 'pruned' (only removals) or 'empty'."""

    action: str
    method: str | None
    points: int  # points on the map now
    placed: int = 0  # points newly positioned by this call (all of them on a fit)
    fits: int = 0  # total fits so far for this collection
    seconds: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


MapPoint = map_store.StoredPoint  # a point of the map, as stored (with its live cluster id)


def reducer_path(coll: Collection) -> Path:
    return coll.directory / REDUCER_FILE


_UPDATE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def update_map(coll: Collection, progress: Progress | None = None, force: bool = False,
               refit_fraction: float = REFIT_FRACTION, seed: int = DEFAULT_SEED) -> MapUpdate:
    """Bring the stored map up to date with the collection (see the module docstring for when it refits).

    Concurrent calls for one collection (two app sessions) run one after the other, so the second finds the map
    made by the first instead of fitting it again; the catalog stays readable meanwhile.
    """
    with _LOCKS_GUARD:
        lock = _UPDATE_LOCKS.setdefault(str(coll.directory), threading.Lock())
    with lock:
        for _attempt in range(REDO):
            try:
                return _update_map(coll, progress, force, refit_fraction, seed)
            except GenerationMoved:
                continue  # images were added or went missing during the fit: map what is there now
    raise RevsearchError("the collection kept changing while making the map (is an `index` running?); "
                         "open the map again when it is done")


def _update_map(coll: Collection, progress: Progress | None, force: bool, refit_fraction: float,
                seed: int) -> MapUpdate:
    started = time.perf_counter()
    with coll.reading():
        generation = coll.generation
        method = coll.meta(META_METHOD)
        fits = int(coll.meta(META_FITS) or 0)
        space = learned.space_key(coll)
        moved_space = (coll.meta(META_SPACE) or "raw") != space
        if not force and method and coll.meta(META_GENERATION) == str(generation) and not moved_space:
            return MapUpdate("cached", method, map_store.count(coll), 0, fits, time.perf_counter() - started)
        hashes = coll.indexed_hashes()
        stored = map_store.stored(coll)
        fitted_n = int(coll.meta(META_FITTED_N) or 0)
    valid = {i for i, (h, _) in stored.items() if i in hashes and hashes[i] == h}
    stale = [i for i in stored if i not in valid]
    new = sorted(i for i in hashes if i not in valid)
    fitted_left = sum(1 for i in valid if stored[i][1])
    changed = len(new) + (fitted_n - fitted_left)
    n = len(hashes)

    if n == 0:
        map_store.replace(coll, [], {META_GENERATION: generation}, generation)
        reducer_path(coll).unlink(missing_ok=True)
        return MapUpdate("empty", method, 0, 0, fits, time.perf_counter() - started)

    refit = (force or moved_space or method is None or method != "umap" and bool(new or stale)
             or (method != "umap" and n >= MIN_UMAP) or (method == "umap" and n < MIN_UMAP)
             or changed > refit_fraction * max(fitted_n, len(stored) if fitted_n >= FIT_LIMIT else 1, 1))
    if not refit and method == "umap" and new:
        reference = _load_reference(coll)
        if reference is None:
            refit = True
        else:
            report(progress, 0, 2, f"placing {len(new)} new images on the map")
            ids, vectors = coll.vectors(new)
            xy = place(reference[1], reference[2], learned.space_vectors(coll, vectors))
            map_store.place(coll, _rows(ids, xy, hashes), stale, {META_GENERATION: generation}, generation)
            report(progress, 2, 2, "done")
            return MapUpdate("transform", "umap", n, len(ids), fits, time.perf_counter() - started)
    if not refit:  # only removals (or changes too small to matter) — points already gone by cascade
        map_store.place(coll, [], stale, {META_GENERATION: generation}, generation)
        return MapUpdate("pruned", method, n, 0, fits, time.perf_counter() - started)

    if n > FIT_LIMIT:
        return _fit_sampled(coll, generation, hashes, fits, seed, progress, started)
    ids, vectors = coll.vectors()
    vectors = learned.space_vectors(coll, vectors)
    if len(ids) >= MIN_UMAP:
        xy = _fit_umap(vectors, seed, progress)
        method = "umap"
    else:
        xy = _fit_small(vectors)
        method = "pca" if len(ids) >= 3 else "trivial"
    xy = align(ids, xy, map_store.positions(coll, ids))
    report(progress, 99, 100, "saving the map")
    if method == "umap":
        _save_reference(coll, ids, vectors, xy)
    else:
        reducer_path(coll).unlink(missing_ok=True)
    (coll.directory / LEGACY_REDUCER_FILE).unlink(missing_ok=True)
    fits += 1
    _store_fit(coll, ids, xy, hashes, method, fits, space, generation)
    report(progress, 100, 100, "done")
    return MapUpdate("fit", method, len(ids), len(ids), fits, time.perf_counter() - started)


def _fit_sampled(coll: Collection, generation: int, hashes: dict[int, str | None], fits: int, seed: int,
                 progress: Progress | None, started: float) -> MapUpdate:
    """UMAP on a seeded sample of FIT_LIMIT images, every other image placed among them chunk by chunk (the same
    placement as for images added later): a fit over a million points would not finish, nor fit in RAM."""
    with coll.snapshot() as snap:
        all_ids = snap.ids()
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(all_ids), size=FIT_LIMIT, replace=False))
        ids, vectors = snap.vectors_of(all_ids[chosen])
        xy = align(ids, _fit_umap(vectors, seed, progress), map_store.positions(coll, ids))
        _save_reference(coll, ids, vectors, xy)
        (coll.directory / LEGACY_REDUCER_FILE).unlink(missing_ok=True)
        map_store.replace(coll, _rows(ids, xy, hashes), {META_METHOD: "umap", META_FITS: fits + 1,
                                                         META_FITTED_N: len(ids), META_FITTED_AT: time.time()})
        fitted = set(ids.tolist())
        report(progress, 99, 100, "placing the other images")
        for chunk_ids, vecs in snap.batches(PLACE_CHUNK):
            keep = np.fromiter((int(i) not in fitted for i in chunk_ids), dtype=bool, count=len(chunk_ids))
            if keep.any():
                map_store.place(coll, _rows(chunk_ids[keep], place(vectors, xy, vecs[keep]), hashes), [], {})
        map_store.place(coll, [], [], {META_GENERATION: generation})  # last: an interrupted placement is redone
        n = snap.n
    report(progress, 100, 100, "done")
    return MapUpdate("fit", "umap", n, len(ids), fits + 1, time.perf_counter() - started)


def store_layout(coll: Collection, ids: np.ndarray, xy: np.ndarray, method: str, generation: int) -> None:
    """Keep `xy` (a row per id of `ids`) as the whole map, laid out by `method` from the vectors of `generation` in
    the collection's current space, as a fit would: a layout made elsewhere (the synthetic benchmark projects a
    million vectors itself). GenerationMoved when the vectors have changed since `generation`."""
    with coll.reading():
        fits, space, hashes = int(coll.meta(META_FITS) or 0) + 1, learned.space_key(coll), coll.indexed_hashes()
    _store_fit(coll, ids, xy, hashes, method, fits, space, generation)


def _store_fit(coll: Collection, ids: np.ndarray, xy: np.ndarray, hashes: dict[int, str | None], method: str,
               fits: int, space: str, generation: int) -> None:
    map_store.replace(coll, _rows(ids, xy, hashes), {
        META_GENERATION: generation, META_METHOD: method, META_FITS: fits, META_FITTED_N: len(ids),
        META_FITTED_AT: time.time(), META_SPACE: space}, generation)


def _rows(ids: np.ndarray, xy: np.ndarray, hashes: dict[int, str | None]) -> list[tuple[int, float, float, str | None]]:
    return [(int(i), float(x), float(y), hashes.get(int(i))) for i, (x, y) in zip(ids, xy)]


def align(ids: np.ndarray, xy: np.ndarray, previous: dict[int, tuple[float, float]]) -> np.ndarray:
    """A new layout turned, mirrored, scaled and shifted to lie over the previous one as closely as possible
    (Procrustes on the images both have), so a refit — after learning, or after many new images — keeps every
    group roughly where people saw it. Unchanged when fewer than 3 images are shared."""
    shared = [n for n, i in enumerate(ids) if int(i) in previous]
    if len(shared) < 3:
        return xy
    new = xy[shared]
    old = np.array([previous[int(ids[n])] for n in shared], dtype=np.float64)
    new_mean, old_mean = new.mean(axis=0), old.mean(axis=0)
    a, b = new - new_mean, old - old_mean
    norm = float((a ** 2).sum())
    if norm == 0.0:
        return xy
    u, s, vt = np.linalg.svd(a.T @ b)
    rotation = u @ vt  # the orthogonal map (a turn, or a turn and a mirror) that best sends a onto b
    scale = float(s.sum()) / norm
    return (xy - new_mean) @ rotation * scale + old_mean


def place(ref_vectors: np.ndarray, ref_xy: np.ndarray, vectors: np.ndarray, k: int = N_NEIGHBORS) -> np.ndarray:
    """2-D positions for `vectors` among fitted points: the mean position of each one's k most similar reference
    vectors (cosine), weighted by exp((similarity - best similarity) / PLACE_TEMPERATURE)."""
    ref = np.ascontiguousarray(ref_vectors, dtype=np.float32)
    k = max(1, min(k, len(ref)))
    out = np.empty((len(vectors), 2), dtype=np.float64)
    for start in range(0, len(vectors), 1024):
        sims = np.asarray(vectors[start : start + 1024], dtype=np.float32) @ ref.T
        nbrs = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(sims, nbrs, axis=1).astype(np.float64)
        weights = np.exp((near - near.max(axis=1, keepdims=True)) / PLACE_TEMPERATURE)
        weights /= weights.sum(axis=1, keepdims=True)
        out[start : start + len(sims)] = np.einsum("nk,nkd->nd", weights, ref_xy[nbrs])
    return out


def map_points(coll: Collection, update: bool = True, progress: Progress | None = None, limit: int | None = None,
               include: Sequence[int] = ()) -> list[MapPoint]:
    """The points of the map with their path, cluster id and label (updating the map first unless `update=False`;
    with `update=False` nothing is written): every point, or with `limit` a fixed seeded sample of at most that many
    plus the points of `include` — what a page can draw for a collection of any size."""
    if update:
        update_map(coll, progress=progress)
    with coll.reading():
        stored = map_store.points(coll) if limit is None else map_store.sample(coll, limit, include)
        # images not assigned yet are shown in their nearest cluster, computed not stored
        clusters = assignments(coll, None if limit is None else [p.id for p in stored])
        return [replace(p, cluster=clusters.get(p.id)) for p in stored]


def map_size(coll: Collection) -> int:
    """How many points the whole map has (what `map_points` returns without a limit)."""
    return map_store.count_shown(coll)


def is_current(coll: Collection) -> bool:
    """Whether `update_map` would find nothing to do (read only, instant): a page can then draw the stored map, and
    otherwise have a background job update it while it shows the stored one."""
    with coll.reading():
        return bool(coll.meta(META_METHOD)) and coll.meta(META_GENERATION) == str(coll.generation) and (
            coll.meta(META_SPACE) or "raw") == learned.space_key(coll)


def version(coll: Collection) -> str:
    """Changes whenever the stored map does (a fit, or points placed or removed): part of the key of cached views."""
    with coll.reading():
        return f"{coll.meta(META_GENERATION)}/{coll.meta(META_FITS)}/{coll.meta(META_FITTED_AT)}"


# ---------------------------------------------------------------------------------------------------- internals


def _fit_small(vectors: np.ndarray) -> np.ndarray:
    n = len(vectors)
    if n == 1:
        return np.zeros((1, 2))
    if n == 2:
        return np.array([[-1.0, 0.0], [1.0, 0.0]])
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(vectors.astype(np.float64))


class _EpochSink:
    """A file for UMAP's tqdm bar (bar_format "{n}/{total}") that forwards the epoch count to a Progress."""

    _PATTERN = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def write(self, text: str) -> int:
        found = self._PATTERN.findall(text)
        if found and self.progress is not None:
            done, total = (int(v) for v in found[-1])
            if total:
                report(self.progress, 10 + int(88 * done / total), 100, f"UMAP layout: epoch {done}/{total}")
        return len(text)

    def flush(self) -> None:
        pass


def _fit_umap(vectors: np.ndarray, seed: int, progress: Progress | None) -> np.ndarray:
    report(progress, 0, 100, "loading UMAP")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        report(progress, 3, 100, f"UMAP: neighbours of {len(vectors)} images")
        reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(N_NEIGHBORS, len(vectors) - 1),
                            min_dist=MIN_DIST, random_state=seed,
                            tqdm_kwds={"disable": False, "file": _EpochSink(progress), "bar_format": "{n}/{total}",
                                       "mininterval": 0.2})
        xy = reducer.fit_transform(vectors)
    return np.asarray(xy, dtype=np.float64)


def _save_reference(coll: Collection, ids: np.ndarray, vectors: np.ndarray, xy: np.ndarray) -> None:
    """Keep what the fit learnt as plain arrays (float16 vectors: half the size, ample for ranking neighbours)."""
    path = reducer_path(coll)
    fd, tmp = tempfile.mkstemp(dir=coll.directory, prefix=".map-reducer-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, ids=np.asarray(ids, np.int64), vectors=np.asarray(vectors, np.float16),
                     xy=np.asarray(xy, np.float64))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_reference(coll: Collection) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(ids, vectors, xy) of the last UMAP fit, or None when missing, damaged or not plain arrays (→ refit).

    Read with `allow_pickle=False`: a file holding pickled objects is refused, never unpickled."""
    path = reducer_path(coll)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, vectors, xy = data["ids"], data["vectors"], data["xy"]
    except Exception:  # noqa: BLE001 - a damaged or foreign cache is rebuilt, never fatal
        return None
    n = len(ids)
    width = learned.space_vectors(coll, np.zeros((1, coll.dim), np.float32)).shape[1]
    if (n == 0 or ids.ndim != 1 or vectors.shape != (n, width) or xy.shape != (n, 2)
            or not np.isfinite(xy).all() or not np.isfinite(vectors).all()):
        return None
    return ids, vectors.astype(np.float32), xy
