"""Query a collection by image files, bytes, decoded images, indexed ids or vectors; top-k with scores, best first.

Vectors are L2-normalised, so cosine similarity is the inner product, and the euclidean distance follows from it
exactly: d = sqrt(2 - 2·cos). Both metrics rank identically; euclidean is offered for users who think in distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from revsearch import images
from revsearch.collection import Collection
from revsearch.vectors import unit_rows
from revsearch.embed.embedder import Embedder
from revsearch.errors import RevsearchError

METRICS = ("cosine", "euclidean")
QuerySource = Path | str | bytes | Image.Image


@dataclass(frozen=True)
class Hit:
    """One result: catalog id, absolute path, and score (cosine similarity ↑, or euclidean distance ↓)."""

    id: int
    path: str
    score: float

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "score": round(self.score, 6)}


class Searcher:
    """A collection plus the model it was built with; refuses a model whose vectors are not comparable."""

    def __init__(self, coll: Collection, embedder: Embedder) -> None:
        coll.check_model(embedder.name, embedder.fingerprint)
        self.coll = coll
        self.embedder = embedder

    def embed(self, sources: Sequence[QuerySource]) -> np.ndarray:
        """Query images → vectors in one batched pass; an undecodable query is an error naming the file."""
        arrays = []
        for src in sources:
            img = src if isinstance(src, Image.Image) else images.load_image(src, target=self.embedder.input_size)
            if isinstance(img, images.Skip):
                name = "uploaded image" if isinstance(src, bytes) else str(src)
                raise RevsearchError(f"cannot use {name} as a query: {img.reason}")
            arrays.append(self.embedder.prepare(img))
        vectors = [self.embedder.embed_batch(np.stack(arrays[i : i + 32])) for i in range(0, len(arrays), 32)]
        return np.concatenate(vectors) if vectors else np.zeros((0, self.embedder.dim), np.float32)

    def by_images(self, sources: Sequence[QuerySource], k: int = 10, metric: str = "cosine",
                  combine: bool = False) -> list[list[Hit]]:
        """One result list per query image, or a single list for their mean when `combine` ("more like these")."""
        vectors = self.embed(sources)
        if combine:
            vectors = combine_queries(vectors)
        return search_vectors(self.coll, vectors, k, metric)

    def by_ids(self, ids: Sequence[int], k: int = 10, metric: str = "cosine") -> list[list[Hit]]:
        """"More like this" from indexed images; each query image itself is left out of its results."""
        found_ids, vectors = self.coll.vectors(ids)
        missing = set(int(i) for i in ids) - set(found_ids.tolist())
        if missing:
            raise RevsearchError(f"not indexed in this collection: id {sorted(missing)[0]}")
        order = {int(i): n for n, i in enumerate(found_ids)}
        queries = vectors[[order[int(i)] for i in ids]]
        return search_vectors(self.coll, queries, k, metric, exclude=[{int(i)} for i in ids])

    # TEMPORARY STAND-IN (branch wt-learnapp): the backend helper's by_feedback replaces this method.
    def by_feedback(self, positive_ids: Sequence[int], negative_ids: Sequence[int] = (), k: int = 10,
                    space: str = "learned") -> list[Hit]:
        """"More like these, less like those": Rocchio (mean of positives - 0.5 · mean of negatives)."""
        if not positive_ids:
            raise RevsearchError("relevance feedback needs at least one image marked as a good result")
        _, pos = self.coll.vectors(list(positive_ids))
        query = pos.mean(axis=0)
        if negative_ids:
            query = query - 0.5 * self.coll.vectors(list(negative_ids))[1].mean(axis=0)
        seen = {int(i) for i in [*positive_ids, *negative_ids]}
        return search_vectors(self.coll, unit_rows(query[None, :]), k, exclude=[seen])[0]


def search_vectors(coll: Collection, queries: np.ndarray, k: int, metric: str = "cosine",
                   exclude: Sequence[set[int]] | None = None) -> list[list[Hit]]:
    """Top-k over the collection's index for each query row, best first."""
    if metric not in METRICS:
        raise RevsearchError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if k < 1:
        raise RevsearchError("k must be at least 1")
    index = coll.index()
    if index.ntotal == 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    extra = max((len(e) for e in exclude), default=0) if exclude else 0
    fetch = min(k + extra, index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), fetch)
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
