"""Query a collection by image files, bytes, decoded images, indexed ids or vectors; top-k with scores, best first.

Vectors are L2-normalised, so cosine similarity is the inner product, and the euclidean distance follows from it
exactly: d = sqrt(2 - 2·cos). Both metrics rank identically; euclidean is offered for users who think in distances.

`space`: "learned" (the default) searches the collection's learned space when it has a usable head (revsearch/learned.py)
and the pretrained one otherwise; "raw" always searches the pretrained vectors. Relevance feedback ("more like these,
less like those", Rocchio): score = cos(x, mean of the positives) − NEGATIVE_WEIGHT · cos(x, mean of the negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from revsearch import images, learned
from revsearch.collection import Collection
from revsearch.vectors import unit_rows
from revsearch.embed.embedder import Embedder
from revsearch.errors import RevsearchError

METRICS = ("cosine", "euclidean")
NEGATIVE_WEIGHT = 0.5
QuerySource = Path | str | bytes | Image.Image
FeedbackRef = int | QuerySource  # an indexed image id, or an image (an indexed path uses its stored vector)


@dataclass(frozen=True)
class Hit:
    """One result: catalog id, absolute path, and score (cosine similarity ↑, or euclidean distance ↓)."""

    id: int
    path: str
    score: float

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "score": round(self.score, 6)}


class Searcher:
    """A collection plus the model it was built with; refuses a model whose vectors are not comparable.

    Queries are seen the way the collection's images were: the embedder is taken under the collection's input
    handling and precision, whatever it came with."""

    def __init__(self, coll: Collection, embedder: Embedder) -> None:
        coll.check_model(embedder.name, embedder.fingerprint)
        self.coll = coll
        self.embedder = embedder.for_input(coll.input_mode).for_precision(coll.precision)

    def embed(self, sources: Sequence[QuerySource]) -> np.ndarray:
        """Query images → vectors in one batched pass; an undecodable query is an error naming the file."""
        prepared = []
        for src in sources:
            img = src if isinstance(src, Image.Image) else images.load_image(src, target=self.embedder.input_size)
            if isinstance(img, images.Skip):
                name = "uploaded image" if isinstance(src, bytes) else str(src)
                raise RevsearchError(f"cannot use {name} as a query: {img.reason}")
            prepared.append(self.embedder.prepare(img))
        return self.embedder.embed_prepared(prepared)

    def by_images(self, sources: Sequence[QuerySource], k: int = 10, metric: str = "cosine",
                  combine: bool = False, space: str | None = None) -> list[list[Hit]]:
        """One result list per query image, or a single list for their mean when `combine` ("more like these")."""
        vectors = self.embed(sources)
        if combine:
            vectors = combine_queries(vectors)
        return search_vectors(self.coll, vectors, k, metric, space=space)

    def by_ids(self, ids: Sequence[int], k: int = 10, metric: str = "cosine",
               space: str | None = None) -> list[list[Hit]]:
        """"More like this" from indexed images; each query image itself is left out of its results."""
        queries = stored_vectors(self.coll, ids)
        return search_vectors(self.coll, queries, k, metric, exclude=[{int(i)} for i in ids], space=space)

    def by_feedback(self, positive: Sequence[FeedbackRef], negative: Sequence[FeedbackRef] = (), k: int = 10,
                    space: str | None = None, weight: float = NEGATIVE_WEIGHT) -> list[Hit]:
        """"More like these, less like those": positives and negatives are indexed ids or images (embedded unless
        indexed); the indexed ones are left out of the results. Scores are the Rocchio score (cosine units)."""
        if not positive:
            raise RevsearchError("relevance feedback needs at least one positive image")
        found = learned.resolve(self.coll, space)
        pos_ids, pos = self._feedback_vectors(positive)
        neg_ids, neg = self._feedback_vectors(negative)
        query = unit_rows(learned.project(found, pos).mean(axis=0, keepdims=True))
        if len(neg):
            query = query - weight * unit_rows(learned.project(found, neg).mean(axis=0, keepdims=True))
        return search_vectors(self.coll, query, k, exclude=[pos_ids | neg_ids], space=space, projected=True)[0]

    def _feedback_vectors(self, refs: Sequence[FeedbackRef]) -> tuple[set[int], np.ndarray]:
        """(indexed ids among refs, raw vectors of all refs): stored vectors for indexed images, embedded others."""
        ids: list[int] = []
        others: list[QuerySource] = []
        for ref in refs:
            row = None
            if isinstance(ref, (int, np.integer)):
                row = self.coll.get(int(ref))
            elif isinstance(ref, (str, Path)):
                row = self.coll.by_path(str(Path(ref).expanduser().resolve()))
            if row is not None and row.status == "indexed" and not row.missing:
                ids.append(row.id)
            elif isinstance(ref, (int, np.integer)):
                raise RevsearchError(f"not indexed in this collection: id {ref}")
            else:
                others.append(ref)
        parts = [stored_vectors(self.coll, ids)] if ids else []
        if others:
            parts.append(self.embed(others))
        return set(ids), np.concatenate(parts) if parts else np.zeros((0, self.coll.dim), np.float32)


def stored_vectors(coll: Collection, ids: Sequence[int]) -> np.ndarray:
    """The stored raw vectors of indexed images, in the order of `ids` (an error names one that is not indexed)."""
    found_ids, vectors = coll.vectors(ids)
    missing = set(int(i) for i in ids) - set(found_ids.tolist())
    if missing:
        raise RevsearchError(f"not indexed in this collection: id {sorted(missing)[0]}")
    order = {int(i): n for n, i in enumerate(found_ids)}
    return vectors[[order[int(i)] for i in ids]]


def search_vectors(coll: Collection, queries: np.ndarray, k: int, metric: str = "cosine",
                   exclude: Sequence[set[int]] | None = None, space: str | None = None,
                   projected: bool = False) -> list[list[Hit]]:
    """Top-k for each raw query row (already in the space when `projected`) in `space`, best first."""
    if metric not in METRICS:
        raise RevsearchError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if k < 1:
        raise RevsearchError("k must be at least 1")
    found = learned.resolve(coll, space)
    total = coll.index().ntotal
    if total == 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    if not projected:
        queries = learned.project(found, queries)
    extra = max((len(e) for e in exclude), default=0) if exclude else 0
    scores, ids = learned.space_search(coll, found, queries, min(k + extra, total))
    paths = coll.paths(np.unique(ids[ids >= 0]).tolist())
    results: list[list[Hit]] = []
    for row, (row_scores, row_ids) in enumerate(zip(scores, ids)):
        skip = exclude[row] if exclude else set()
        hits = []
        for score, image_id in zip(row_scores, row_ids):
            image_id = int(image_id)
            if image_id < 0 or image_id in skip or image_id not in paths:
                continue
            value = float(score) if metric == "cosine" else float(np.sqrt(max(0.0, 2.0 - 2.0 * float(score))))
            hits.append(Hit(image_id, paths[image_id], value))
            if len(hits) == k:
                break
        results.append(hits)
    return results


def combine_queries(vectors: np.ndarray) -> np.ndarray:
    """Several queries as one ("more like these"): their normalised mean."""
    return unit_rows(vectors.mean(axis=0, keepdims=True)) if len(vectors) > 1 else vectors


def load_query_vectors(path: Path | str, dim: int) -> np.ndarray:
    """Raw query vectors from a .npy file (1-D: one query, 2-D: one per row), L2-normalised; never unpickles."""
    try:
        array = np.load(Path(path).expanduser(), allow_pickle=False)
    except FileNotFoundError:
        raise RevsearchError(f"query vectors not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise RevsearchError(f"{path} is not a numeric .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu" or array.ndim not in (1, 2):
        raise RevsearchError(f"{path}: expected a 1-D or 2-D float array, got {getattr(array, 'dtype', '?')} "
                             f"of shape {getattr(array, 'shape', '?')}")
    queries = np.atleast_2d(array).astype(np.float32)
    if queries.shape[1] != dim:
        raise RevsearchError(f"{path}: vectors have {queries.shape[1]} dimensions; the collection's have {dim}")
    if not np.isfinite(queries).all():
        raise RevsearchError(f"{path}: contains NaN or infinity")
    if (np.linalg.norm(queries, axis=1) == 0).any():
        raise RevsearchError(f"{path}: contains an all-zero vector (no direction to search)")
    return unit_rows(queries)
