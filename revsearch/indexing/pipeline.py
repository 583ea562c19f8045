"""Embedding a stream of files: worker threads decode (and on ONNX Runtime also embed) while results come back in
input order.

PIL, hashing and ONNX Runtime release the GIL, so the workers run at once; the look-ahead is bounded so memory stays
flat on folders of any size.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, Iterable, Iterator, Protocol, TypeVar

import numpy as np

from revsearch.embed.embedder import Embedder, cpu_threads
from revsearch.embed.views import Prepared

T = TypeVar("T")


class HasInputs(Protocol):
    prepared: Prepared | None  # the model inputs, or None when the item is skipped


R = TypeVar("R", bound=HasInputs)


class Embedded(Generic[T, R]):
    """One item after the pipeline: what the loader returned and its vector (None when it had no array)."""

    __slots__ = ("item", "loaded", "vector")

    def __init__(self, item: T, loaded: R, vector: np.ndarray | None) -> None:
        self.item, self.loaded, self.vector = item, loaded, vector


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, lookahead: int) -> Iterator[tuple[T, R]]:
    """`map` on a thread pool with at most `lookahead` items in flight, in input order."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending: deque[tuple[T, Future[R]]] = deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= lookahead:
                head, fut = pending.popleft()
                yield head, fut.result()
        while pending:
            head, fut = pending.popleft()
            yield head, fut.result()


def embed_stream(
    items: Iterable[T],
    load: Callable[[T], R],
    embedder: Embedder,
    batch_size: int = 32,
    workers: int | None = None,
) -> Iterator[list[Embedded[T, R]]]:
    """Yield batches of `Embedded` (at most `batch_size` each, in input order); skipped items ride along with
    vector None.

    On ONNX Runtime each of `workers` threads decodes and embeds its own photos, one at a time, on a single-thread
    session (`Embedder.embed_alone`): no hand-off between threads, no barrier inside a batch's operators, and the
    cheapest inference per view (640×480 photos on 2 cores: ~92 → ~105 img/s). PyTorch runs the model on this
    thread, one forward pass per batch, while the workers decode the next photos."""
    workers = workers or cpu_threads()
    if embedder.runs_alone:
        yield from _each_alone(items, load, embedder, batch_size, workers)
        return
    batch: list[tuple[T, R]] = []
    for item, loaded in ordered_map(load, items, workers, lookahead=batch_size * 2):
        batch.append((item, loaded))
        if sum(1 for _, r in batch if r.prepared is not None) >= batch_size:
            yield _run(batch, embedder, batch_size)
            batch = []
    if batch:
        yield _run(batch, embedder, batch_size)


def _each_alone(items: Iterable[T], load: Callable[[T], R], embedder: Embedder, batch_size: int,
                workers: int) -> Iterator[list[Embedded[T, R]]]:
    """embed_stream on ONNX Runtime: load and embed each item in one worker."""
    def work(item: T) -> tuple[R, np.ndarray | None]:
        loaded = load(item)
        return loaded, None if loaded.prepared is None else embedder.embed_alone(loaded.prepared)

    batch: list[Embedded[T, R]] = []
    for item, (loaded, vector) in ordered_map(work, items, workers, lookahead=4 * workers):
        batch.append(Embedded(item, loaded, vector))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run(batch: list[tuple[T, R]], embedder: Embedder, batch_size: int) -> list[Embedded[T, R]]:
    """One batch of square views and the native views of the same images, grouped by shape (views.embed_prepared)."""
    vectors = embedder.embed_prepared([r.prepared for _, r in batch if r.prepared is not None], batch_size)
    out: list[Embedded[T, R]] = []
    row = 0
    for item, loaded in batch:
        if loaded.prepared is None:
            out.append(Embedded(item, loaded, None))
        else:
            out.append(Embedded(item, loaded, vectors[row]))
            row += 1
    return out
