"""Query a collection by image files, bytes, decoded images, indexed ids or vectors; top-k with scores, best first.

Vectors are L2-normalised, so cosine similarity is the inner product, and the euclidean distance follows from it
exactly: d = sqrt(2 - 2·cos). Both metrics rank identically; euclidean is offered for users who think in distances.

`space`: "learned" (the default) searches the collection's learned space when it has a usable head (revsearch/learned.py)
and the pretrained one otherwise; "raw" always searches the pretrained vectors. Relevance feedback ("more like these,
less like those", Rocchio): score = cos(x, mean of the positives) − NEGATIVE_WEIGHT · cos(x, mean of the negatives).

`run_query` answers one whole `Query` (images or a region of each, vectors from a .npy file, or feedback) from the
collection's folder: the CLI's `search` is one call to it.
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
from revsearch.indexing.pairing import embedder_for, paired
from revsearch.regions import parse_box, query_image

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
        self.coll = coll
        self.embedder = paired(coll, embedder)

    @classmethod
    def loading(cls, coll: Collection, model: str | None = None, input_mode: str | None = None,
                backend: str = "auto") -> "Searcher":
        """A searcher with the collection's own model loaded (a different `model` or `input_mode` asked for is
        refused before anything loads)."""
        return cls(coll, embedder_for(coll, model, input_mode, backend))

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

    def similarity(self, query: FeedbackRef, ids: Sequence[int], space: str | None = None) -> dict[int, float]:
        """The plain search score (cosine) of each indexed image of `ids` for `query` (an indexed id or an image):
        what a search without feedback shows for them, beside the Rocchio score of `by_feedback`."""
        found = learned.resolve(self.coll, space)
        if not len(ids):
            return {}
        _, query_vector = self._feedback_vectors([query])
        scores = learned.project(found, stored_vectors(self.coll, ids)) @ learned.project(found, query_vector)[0]
        return {int(i): float(v) for i, v in zip(ids, scores)}

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


@dataclass(frozen=True)
class Query:
    """One search as a command asks for it: query images (a region "x,y,w,h" of each with `crop`), raw vectors from a
    .npy file (`embedding`), or relevance feedback (`positive`, `negative`). The caller keeps to one of the three."""

    images: Sequence[Path] = ()
    embedding: Path | None = None
    positive: Sequence[Path] = ()
    negative: Sequence[Path] = ()
    crop: str | None = None
    k: int = 10
    metric: str = "cosine"
    combine: bool = False
    space: str = "learned"
    model: str | None = None
    backend: str = "auto"


@dataclass(frozen=True)
class Answer:
    """The results of one query (images, vectors or feedback, named as `query`); `error` when its image was unusable."""

    query: object
    hits: Sequence[Hit]
    error: str | None = None

    def as_dict(self) -> dict:
        out = {"query": self.query, "results": [h.as_dict() for h in self.hits]}
        return out if self.error is None else {**out, "error": self.error}


def run_query(directory: Path | str, query: Query) -> tuple[list[Answer], list[tuple[Path, str]]]:
    """(answers, the query images that could not be used with why) for `query` over the collection at `directory`:
    an answer per query image or vector, or one for them all (`combine`, feedback). An unusable query image does not
    stop the others; it gets an answer with its error (none of its own when combined)."""
    box = parse_box(query.crop) if query.crop else None
    with Collection.open(directory) as coll:
        if query.positive:
            hits = Searcher.loading(coll, query.model, backend=query.backend).by_feedback(
                query.positive, query.negative, k=query.k, space=query.space)
            return [Answer({"positive": [str(p) for p in query.positive],
                            "negative": [str(p) for p in query.negative]}, hits)], []
        if query.embedding is not None:
            return _by_vectors(coll, query), []
        return _by_images(coll, query, box)


def _by_vectors(coll: Collection, query: Query) -> list[Answer]:
    """Queries given as vectors, labelled FILE#ROW."""
    vectors = load_query_vectors(query.embedding, coll.dim)
    labels = [f"{query.embedding}#{n}" for n in range(len(vectors))]
    hits = search_vectors(coll, combine_queries(vectors) if query.combine else vectors, query.k, query.metric,
                          space=query.space)
    if query.combine:
        return [Answer(labels, hits[0])]
    return [Answer(label, row) for label, row in zip(labels, hits)]


def _by_images(coll: Collection, query: Query, box: tuple[int, int, int, int] | None
               ) -> tuple[list[Answer], list[tuple[Path, str]]]:
    searcher = Searcher.loading(coll, query.model, backend=query.backend)
    decoded, failed = [], {}
    for n, path in enumerate(query.images):
        img = _decoded(path, box, searcher.embedder.input_size)
        if isinstance(img, str):
            failed[n] = img
        else:
            decoded.append(img)
    hits = (searcher.by_images(decoded, k=query.k, metric=query.metric, combine=query.combine, space=query.space)
            if decoded else [])
    unusable = [(query.images[n], reason) for n, reason in failed.items()]
    if query.combine:
        return [Answer([str(p) for p in query.images], hits[0] if hits else [])], unusable
    ok = iter(hits)
    return [Answer(str(p), [], failed[n]) if n in failed else Answer(str(p), next(ok))
            for n, p in enumerate(query.images)], unusable


def _decoded(path: Path, box: tuple[int, int, int, int] | None, size: int) -> Image.Image | str:
    """The decoded query (its region when `box`), or why it cannot be used."""
    try:
        img = query_image(path, box, size)
    except RevsearchError as exc:
        return str(exc)
    return img.reason if isinstance(img, images.Skip) else img
