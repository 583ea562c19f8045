"""Adding images to a collection: index them, then get every page ready — written once for the app and the CLI.

`add_images` embeds a folder (a sync: new and changed files are embedded, files not found marked missing, moved ones
re-linked; `prune=True` then deletes what is still missing under it) or a set of files
(uploads: nothing else is removed), leaves a fresh search index on disk, deletes cached thumbnails of content that
left the collection, and — unless told not to — prepares thumbnails, clusters and the map so the pages open at once.

Progress is reported per phase (EMBEDDING, THUMBNAILS, CLUSTERS, MAP): callers pass `phases`, a function from a
phase name to that phase's Progress callback (or None to stay silent), and word the phases themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from revsearch import busy, clusters, projection, thumbnails
from revsearch.collection import Collection
from revsearch.indexing.sync import BatchSource, IndexReport, index_files, index_folder
from revsearch.embed.embedder import Embedder
from revsearch.progress import Progress, report

EMBEDDING, THUMBNAILS, CLUSTERS, MAP = "embedding", "thumbnails", "clusters", "map"
PHASES = (EMBEDDING, THUMBNAILS, CLUSTERS, MAP)
THUMB_SIZES = (256, 96)  # result grids and montages; hover previews on the map

Phases = Callable[[str], Progress | None]  # phase name -> that phase's progress callback (None: silent)


@dataclass
class Added:
    """What `add_images` did: the indexing report, and what was prepared or cleaned up afterwards."""

    report: IndexReport
    prepared: dict[str, int | str] = field(default_factory=dict)  # thumbnails, clusters | assigned, map, pruned

    @property
    def found(self) -> int:
        """Images the source holds, new or not (embedded, unchanged, found again, moved, or copies of others)."""
        r = self.report
        return r.indexed + r.updated + r.unchanged + r.restored + len(r.moves) + len(r.duplicates)


def add_images(coll: Collection, source: Path | str | Sequence[Path | str], embedder: Embedder,
               phases: Phases | None = None, prepare: bool = True, batch_size: int = 32,
               batches: BatchSource | None = None, prune: bool = False,
               keep: Callable[[Path], bool] | None = None) -> Added:
    """Index `source` (a folder, synced; or a list of files, added) into `coll`, then prepare the pages.

    Images new to an existing clustering join their nearest cluster here (a write), so that reading clusters never
    has to. Thumbnails of content no longer in the collection (missing files pruned, or changed in place) are
    deleted from the cache, so it does not grow without bound. `prepare=False` skips thumbnails, clusters and the
    map (the CLI's default: the first UMAP fit of 10k images takes about a minute, and `cluster` / `map` do it on
    demand). `batches` replaces in-process decoding and embedding of a folder (e.g. a Ray cluster's results).
    The collection is marked as being indexed meanwhile (revsearch.busy), so it cannot be deleted mid-run.
    `keep` leaves out files of a folder it refuses (links out of the allowed folders, revsearch.auth.roots).
    """
    with busy.indexing(coll.directory):
        return _add_images(coll, source, embedder, phases, prepare, batch_size, batches, prune, keep)


def _add_images(coll: Collection, source: Path | str | Sequence[Path | str], embedder: Embedder,
                phases: Phases | None, prepare: bool, batch_size: int, batches: BatchSource | None,
                prune: bool, keep: Callable[[Path], bool] | None) -> Added:
    progress = _phase(phases, EMBEDDING)
    if isinstance(source, (str, Path)):
        result = index_folder(coll, source, embedder, progress=progress, batch_size=batch_size, source=batches,
                              prune=prune, keep=keep)
    else:
        result = index_files(coll, list(source), embedder, progress=progress, batch_size=batch_size)
    coll.index()  # leave a fresh index on disk so the next search opens at once
    added = Added(result)
    if not prepare and (assigned := clusters.assign_new(coll)):  # prepare_pages assigns otherwise
        added.prepared["assigned"] = assigned
    if result.removed or result.updated:
        added.prepared["pruned"] = thumbnails.prune(coll)
    if prepare:
        added.prepared.update(prepare_pages(coll, phases))
    return added


def prune_missing(coll: Collection) -> int:
    """Delete for good every image whose file is missing (with its labels), and their cached thumbnails."""
    removed = coll.prune()
    if removed:
        thumbnails.prune(coll)
    return removed


def prepare_pages(coll: Collection, phases: Phases | None = None) -> dict[str, int | str]:
    """Thumbnails, clusters and the map brought up to date after images were added, so pages open at once.

    A collection without clusters gets a first clustering with k = initial_k(n) (re-cluster with another or a
    suggested k on the Clusters page); later additions join the nearest existing cluster, keeping ids and names.
    New images are placed on the existing map (UMAP transform) unless much has changed.
    """
    done: dict[str, int | str] = {}
    n = coll.counts()["indexed"]
    if n == 0:
        return done
    progress = _phase(phases, THUMBNAILS)
    done["thumbnails"] = sum(thumbnails.warm(coll, size, progress=progress) for size in THUMB_SIZES)
    progress = _phase(phases, CLUSTERS)
    report(progress, 0, 0, "")
    if clusters.clustering(coll, n_representatives=0, n_outliers=0) is None:
        if n >= 2:
            done["clusters"] = clusters.recluster(coll, initial_k(n), progress=progress).k
    else:
        done["assigned"] = clusters.assign_new(coll)
    done["map"] = projection.update_map(coll, progress=_phase(phases, MAP)).action
    return done


def initial_k(n: int) -> int:
    """The first clustering's k: about √n, between 2 and 20 (80 photos → 9, 1,000 → 20)."""
    return max(1, min(n, max(2, min(20, round(n ** 0.5)))))


def _phase(phases: Phases | None, name: str) -> Progress | None:
    return phases(name) if phases is not None else None


__all__ = ["Added", "CLUSTERS", "EMBEDDING", "MAP", "PHASES", "Phases", "THUMBNAILS", "THUMB_SIZES", "add_images",
           "initial_k", "prepare_pages", "prune_missing"]
