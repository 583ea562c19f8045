"""The 2-D map of a collection: UMAP (cosine, seeded) over the vectors, persisted and updated incrementally.

Coordinates live in the catalog (`projection` table); the fitted UMAP reducer is pickled next to it
(`<collection>/map-reducer.pkl`, written atomically). `update_map` is cheap to call on every page view: it does nothing
when the collection's generation has not moved since the map was made. When it has moved:

- images removed from the collection simply leave the map (their rows cascade away);
- new images (or images whose file content changed) are placed with the fitted reducer's `transform`, so the
  existing points do not move;
- the whole map is refitted when asked (`force=True`) or when more than `refit_fraction` of the points are new,
  changed or gone since the last fit (the old layout would no longer describe the collection).

Collections with fewer than `MIN_UMAP` (20) images get a PCA projection instead (refitted on every change, it is
instant); one image sits at (0, 0), two at (±1, 0).

UMAP is imported lazily (numba makes the import take seconds). Fitting 713 vectors takes ≈12 s in a fresh process
on 2 CPU cores, most of it numba compiling; progress is reported through the epochs.

Public API:
    update_map(coll, progress=None, force=False, refit_fraction=0.2, seed=0) -> MapUpdate
    map_points(coll, update=True, progress=None) -> list[MapPoint]       with cluster id and label per point
    map_state(coll) -> MapUpdate                                           what is stored, computing nothing
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from revsearch.collection import Collection
from revsearch.collection import catalog
from revsearch.progress import Progress, report

MIN_UMAP = 20
REFIT_FRACTION = 0.2
REDUCER_FILE = "map-reducer.pkl"
DEFAULT_SEED = 0
N_NEIGHBORS = 15
MIN_DIST = 0.1

META_GENERATION = "map_generation"
META_METHOD = "map_method"  # umap | pca | trivial
META_FITS = "map_fits"  # how many fits this collection has seen (tests use it to prove reuse)
META_FITTED_N = "map_fitted_n"
META_FITTED_AT = "map_fitted_at"


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


@dataclass(frozen=True)
class MapPoint:
    id: int
    path: str
    x: float
    y: float
    cluster: int | None
    label: str | None

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "x": round(self.x, 5), "y": round(self.y, 5),
                "cluster": self.cluster, "label": self.label}


def reducer_path(coll: Collection) -> Path:
    return coll.directory / REDUCER_FILE


def map_state(coll: Collection) -> MapUpdate:
    """The stored map's method, size and fit count, without computing anything."""
    with coll.lock:
        n = coll.conn.execute("SELECT COUNT(*) FROM projection").fetchone()[0]
        method = catalog.get_meta(coll.conn, META_METHOD)
        fits = int(catalog.get_meta(coll.conn, META_FITS) or 0)
    return MapUpdate("stored", method, int(n), 0, fits)


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
        return _update_map(coll, progress, force, refit_fraction, seed)


def _update_map(coll: Collection, progress: Progress | None, force: bool, refit_fraction: float,
                seed: int) -> MapUpdate:
    started = time.perf_counter()
    with coll.lock:
        generation = coll.generation
        conn = coll.conn
        method = catalog.get_meta(conn, META_METHOD)
        fits = int(catalog.get_meta(conn, META_FITS) or 0)
        if not force and method and catalog.get_meta(conn, META_GENERATION) == str(generation):
            n = conn.execute("SELECT COUNT(*) FROM projection").fetchone()[0]
            return MapUpdate("cached", method, int(n), 0, fits, time.perf_counter() - started)
        hashes = dict(conn.execute("SELECT id, hash FROM images WHERE status = 'indexed'").fetchall())
        stored = {int(r[0]): (r[1], int(r[2])) for r in conn.execute("SELECT image_id, hash, fitted FROM projection")}
    valid = {i for i, (h, _) in stored.items() if i in hashes and hashes[i] == h}
    stale = [i for i in stored if i not in valid]
    new = sorted(i for i in hashes if i not in valid)
    fitted_n = int(catalog.get_meta(coll.conn, META_FITTED_N) or 0)
    fitted_left = sum(1 for i in valid if stored[i][1])
    changed = len(new) + (fitted_n - fitted_left)
    n = len(hashes)

    if n == 0:
        with coll.transaction() as tx:
            tx.execute("DELETE FROM projection")
            catalog.set_meta(tx, META_GENERATION, generation)
        reducer_path(coll).unlink(missing_ok=True)
        return MapUpdate("empty", method, 0, 0, fits, time.perf_counter() - started)

    refit = (force or method is None or method != "umap" and bool(new or stale)
             or (method != "umap" and n >= MIN_UMAP) or (method == "umap" and n < MIN_UMAP)
             or changed > refit_fraction * max(fitted_n, 1))
    if not refit and method == "umap" and new:
        reducer = _load_reducer(coll)
        if reducer is None:
            refit = True
        else:
            report(progress, 0, 2, f"placing {len(new)} new images on the map")
            ids, vectors = coll.vectors(new)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                xy = reducer.transform(vectors)
            _store(coll, ids, xy, fitted=False, generation=generation, stale=stale)
            report(progress, 2, 2, "done")
            return MapUpdate("transform", "umap", n, len(ids), fits, time.perf_counter() - started)
    if not refit:  # only removals (or changes too small to matter) — points already gone by cascade
        _store(coll, np.zeros(0, np.int64), np.zeros((0, 2)), fitted=False, generation=generation, stale=stale)
        return MapUpdate("pruned", method, n, 0, fits, time.perf_counter() - started)

    ids, vectors = coll.vectors()
    if len(ids) >= MIN_UMAP:
        xy, reducer = _fit_umap(vectors, seed, progress)
        method = "umap"
    else:
        xy, reducer = _fit_small(vectors), None
        method = "pca" if len(ids) >= 3 else "trivial"
    report(progress, 99, 100, "saving the map")
    if reducer is not None:
        _save_reducer(coll, reducer)
    else:
        reducer_path(coll).unlink(missing_ok=True)
    fits += 1
    with coll.transaction() as tx:
        tx.execute("DELETE FROM projection")
        _insert(tx, ids, xy, hashes, fitted=True)
        for key, value in ((META_GENERATION, generation), (META_METHOD, method), (META_FITS, fits),
                           (META_FITTED_N, len(ids)), (META_FITTED_AT, time.time())):
            catalog.set_meta(tx, key, value)
    report(progress, 100, 100, "done")
    return MapUpdate("fit", method, len(ids), len(ids), fits, time.perf_counter() - started)


def map_points(coll: Collection, update: bool = True, progress: Progress | None = None) -> list[MapPoint]:
    """Every point of the map with its path, cluster id and label (updating the map first unless `update=False`)."""
    if update:
        update_map(coll, progress=progress)
    from revsearch.clusters import assign_new

    assign_new(coll)
    with coll.lock:
        rows = coll.conn.execute(
            "SELECT p.image_id, i.path, p.x, p.y, m.cluster_id, l.label FROM projection p "
            "JOIN images i ON i.id = p.image_id LEFT JOIN cluster_members m ON m.image_id = p.image_id "
            "LEFT JOIN labels l ON l.image_id = p.image_id ORDER BY p.image_id").fetchall()
    return [MapPoint(int(r[0]), r[1], float(r[2]), float(r[3]), None if r[4] is None else int(r[4]), r[5])
            for r in rows]


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


def _fit_umap(vectors: np.ndarray, seed: int, progress: Progress | None):
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
    reducer.tqdm_kwds = {"disable": True}  # the sink must not be pickled
    return np.asarray(xy, dtype=np.float64), reducer


def _save_reducer(coll: Collection, reducer) -> None:
    path = reducer_path(coll)
    fd, tmp = tempfile.mkstemp(dir=coll.directory, prefix=".map-reducer-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(reducer, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_reducer(coll: Collection):
    """The pickled reducer this collection wrote itself, or None when missing/unreadable (→ refit)."""
    path = reducer_path(coll)
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap  # noqa: F401  (the pickle needs its classes)

            with open(path, "rb") as fh:
                return pickle.load(fh)
    except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
        return None


def _insert(conn, ids, xy, hashes: dict, fitted: bool) -> None:
    conn.executemany("INSERT OR REPLACE INTO projection(image_id, x, y, hash, fitted) VALUES(?, ?, ?, ?, ?)",
                     [(int(i), float(x), float(y), hashes.get(int(i)), int(fitted)) for i, (x, y) in zip(ids, xy)])


def _store(coll: Collection, ids, xy, fitted: bool, generation: int, stale: list[int]) -> None:
    with coll.lock:
        hashes = dict(coll.conn.execute("SELECT id, hash FROM images WHERE status = 'indexed'").fetchall())
    with coll.transaction() as tx:
        tx.executemany("DELETE FROM projection WHERE image_id = ?", [(int(i),) for i in stale])
        _insert(tx, ids, xy, hashes, fitted)
        catalog.set_meta(tx, META_GENERATION, generation)
