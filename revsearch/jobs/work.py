"""What each kind of job does, through the engine's public functions. Every kind's parameters are plain JSON (they
are kept in the job's record, so an interrupted job can be run again as it was), and so is what it returns.

    index       {"files": [paths], "rejected": [[name, reason]]}   uploads saved into the collection: added
                {"root": data dir, "slug": collection, "folder": path, "allowed": [folders]}   a folder on this
                machine, indexed in place (without the links out of the allowed folders, when they are given)
    learn       {"force": bool}   retrain on the labels (only when they changed, unless forced), then have the
                suggestions ready and, when the learned space moved, the map laid out again (a follow-up job)
    duplicates  {"threshold": t}  the near-duplicate comparison, kept in the collection
    recluster   {"k": k}          k-means into k clusters (names kept where the groups stayed)
    suggest_k   {}                silhouette over a range of k
    map         {}                the map brought up to date (a fit when needed)
    folders     {}                the class subfolders of the collection's images (the labels they would give)
"""

from __future__ import annotations

from pathlib import Path

from revsearch import clusters, labels, learned, near_duplicates, projection
from revsearch.auth.roots import Roots
from revsearch.indexing import adding
from revsearch.jobs.clock import MODEL
from revsearch.jobs.runner import JobContext, Work
from revsearch.workspace import Workspace, add_local_folder


def index(ctx: JobContext) -> dict:
    """Load the model, add the images (embedding, then thumbnails, clusters and the map) and say what happened."""
    params = ctx.params
    with ctx.collection() as coll:
        model, mode, precision, existing = coll.model, coll.input_mode, coll.precision, coll.counts()["indexed"]
    ctx.job.clock.configure(existing, mode, precision)
    ctx.phase(MODEL)
    embedder = ctx.embedder(model)
    if "folder" in params:
        keep = Roots(tuple(Path(p) for p in params["allowed"]), shared=True).contains if "allowed" in params else None
        added = add_local_folder(Workspace(params["root"]), params["slug"], params["folder"], embedder, ctx.phase,
                                 keep=keep)
    else:
        with ctx.collection() as coll:
            added = adding.add_images(coll, [Path(p) for p in params.get("files", [])], embedder, ctx.phase)
    seconds = ctx.job.clock.finish()
    return {"report": added.report.as_dict(), "rejected": [list(r) for r in params.get("rejected", [])],
            "seconds": round(seconds, 3), "phases": {k: round(v, 3) for k, v in ctx.job.clock.breakdown().items()},
            "found": added.found}


def learn(ctx: JobContext) -> dict:
    """Retrain when the training labels changed (or when asked), then compute the suggestions so that the pages
    read them at once; a retrain that changed the learned space is followed by a map job."""
    with ctx.collection() as coll:
        space = learned.space_key(coll)
        version = labels.version(coll)
        result = (learned.learn(coll, ctx.phase("learn")) if ctx.params.get("force")
                  else learned.retrain_if_stale(coll, ctx.phase("learn")))
        ctx.phase("suggestions")
        labels.suggest(coll)
        moved = learned.space_key(coll) != space and projection.map_size(coll) > 0
    if moved:
        ctx.follow("map")
    out = {"labels_version": version, "trained": result is not None}
    if result is not None:
        out.update(used=result.used, message=result.message, gain=result.gain)
    return out


def duplicates(ctx: JobContext) -> dict:
    threshold = float(ctx.params["threshold"])
    with ctx.collection() as coll:
        pairs = near_duplicates.similar_pairs(coll, threshold, ctx.phase("compare"))
    return {"threshold": threshold, "pairs": len(pairs)}


def recluster(ctx: JobContext) -> dict:
    with ctx.collection() as coll:
        made = clusters.recluster(coll, int(ctx.params["k"]), progress=ctx.phase("kmeans"))
    return {"k": made.k}


def suggest_k(ctx: JobContext) -> dict:
    with ctx.collection() as coll:
        found = clusters.suggest_k(coll, progress=ctx.phase("silhouette"))
    return {"best": found.best, "scores": [[k, round(v, 4)] for k, v in sorted(found.scores.items())],
            "sample_size": found.sample_size}


def layout(ctx: JobContext) -> dict:
    _one_numba_thread()
    with ctx.collection() as coll:
        done = projection.update_map(coll, progress=ctx.phase(adding.MAP))
    return done.as_dict()


def _one_numba_thread() -> None:
    """UMAP's parallel loops on one thread in this job (numba's count is per calling thread): the other core stays
    with the pages."""
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):  # no numba (no UMAP either), or a build without a threading layer
        pass


def folders(ctx: JobContext) -> dict:
    with ctx.collection() as coll:
        return {"generation": coll.generation, "classes": labels.folder_classes(coll)}


WORK: dict[str, Work] = {"index": index, "learn": learn, "duplicates": duplicates, "recluster": recluster,
                         "suggest_k": suggest_k, "map": layout, "folders": folders}

__all__ = ["WORK", "duplicates", "folders", "index", "layout", "learn", "recluster", "suggest_k"]
