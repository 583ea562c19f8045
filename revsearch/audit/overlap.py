"""Overlap with an outside set: which outside images are copies or near-copies of collection images (the test-set
contamination check of `audit --against`).

The outside set is another collection made with the same model and input handling (its vectors are used as they
are), or a folder, indexed for the check into a temporary collection (decoding and embedding with the collection's
model; nothing is written into either collection). An outside image overlaps when its content is identical to a
collection image (score 1, `exact`) or its vector is at least the collection's near-duplicate threshold similar to
one (near_duplicates.default_threshold, the same line the Duplicates page draws).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from revsearch import near_duplicates
from revsearch.audit.report import Overlap
from revsearch.audit.run import keep_overlap
from revsearch.collection import Collection, vector_index
from revsearch.embed import Embedder
from revsearch.errors import RevsearchError
from revsearch.indexing import index_folder, pairing
from revsearch.progress import Progress, report

CHUNK = 4096


def overlap(coll: Collection, other: Collection, threshold: float | None = None,
            progress: Progress | None = None) -> list[Overlap]:
    """The images of `other` that copy (or nearly copy) an image of `coll`, most similar first."""
    if (other.model, other.fingerprint, other.input_mode) != (coll.model, coll.fingerprint, coll.input_mode):
        raise RevsearchError(f"{other.directory} was built with {other.model} ({other.input_mode}), this collection "
                             f"with {coll.model} ({coll.input_mode}): their vectors are not comparable; give the "
                             "folder itself instead")
    threshold = near_duplicates.default_threshold(coll) if threshold is None else threshold
    found: dict[int, tuple[int, float, bool]] = {}  # outside id -> (collection id, score, exact)
    mine = {content: image_id for image_id, content in coll.indexed_hashes().items() if content}
    for row in other.rows():
        if row.status != "skipped" and not row.missing and row.hash in mine:
            found[row.id] = (mine[row.hash], 1.0, True)
    if coll.counts()["indexed"]:
        index = coll.index()
        total = other.counts()["indexed"]
        done = 0
        for ids, vectors in other.iter_vectors(CHUNK):
            report(progress, done, total, "comparing with the collection")
            sims, nbrs = vector_index.search(index, vectors, 1)
            for outside, score, inside in zip(ids.tolist(), sims[:, 0].tolist(), nbrs[:, 0].tolist()):
                if inside >= 0 and score >= threshold - 1e-6 and outside not in found:
                    found[outside] = (int(inside), min(1.0, float(score)), False)
            done += len(ids)
    outside_paths = other.paths(list(found))
    inside_paths = coll.paths([m for m, _, _ in found.values()])
    out = [Overlap(outside_paths.get(o, ""), inside_paths.get(m, ""), m, s, exact)
           for o, (m, s, exact) in found.items()]
    out.sort(key=lambda o: (-o.score, o.path))
    return out


def overlap_folder(coll: Collection, folder: Path | str, embedder: Embedder, threshold: float | None = None,
                   progress: Progress | None = None) -> list[Overlap]:
    """`overlap` with the images under a folder, embedded for the check with `embedder` (the collection's model)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise RevsearchError(f"not a folder or a collection: {root}")
    with tempfile.TemporaryDirectory(prefix="revsearch-against-") as tmp:
        with pairing.create_for(Path(tmp) / "against", pairing.paired(coll, embedder)) as other:
            index_folder(other, root, embedder, progress)
            return overlap(coll, other, threshold, progress)


def against(coll: Collection, target: Path | str, embedder_for_folder, threshold: float | None = None,
            progress: Progress | None = None) -> list[Overlap]:
    """`overlap` with a collection directory, or with a folder of images (then `embedder_for_folder()` gives the
    model, loaded only when needed); the count is kept for the dataset card."""
    target = Path(target).expanduser()
    if Collection.exists(target):
        if target.resolve() == coll.directory:
            raise RevsearchError("--against names this very collection; give another collection or a folder")
        with Collection.open(target) as other:
            found = overlap(coll, other, threshold, progress)
    else:
        found = overlap_folder(coll, target, embedder_for_folder(), threshold, progress)
    keep_overlap(coll, str(target.resolve()), len(found))
    return found
