"""The indexing pipeline on ONNX Runtime: each worker decodes and embeds its own photos on a single-thread session."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revsearch import images
from revsearch.embed import Embedder
from revsearch.embed.views import Prepared
from revsearch.indexing.pipeline import embed_stream


class Loaded:
    def __init__(self, prepared: Prepared | None) -> None:
        self.prepared = prepared


def test_one_photo_alone_gives_the_vector_of_a_batch(embedder: Embedder, clothing_folder):
    photos = sorted(clothing_folder[1])[:6]
    prepared = [embedder.prepare(images.load_image(p, target=embedder.input_size)) for p in photos]
    assert embedder.runs_alone and any(p.native is not None for p in prepared)  # both views are exercised
    batched = embedder.embed_prepared(prepared)
    alone = np.stack([embedder.embed_alone(p) for p in prepared])
    assert alone.shape == batched.shape and np.allclose(np.linalg.norm(alone, axis=1), 1, atol=1e-5)
    assert float((alone * batched).sum(axis=1).min()) > 0.9999


def test_the_stream_keeps_input_order_batches_and_skips(embedder: Embedder, clothing_folder):
    photos: list[Path | None] = list(sorted(clothing_folder[1])[:9])
    photos.insert(4, None)  # an item the loader skips

    def load(path: Path | None) -> Loaded:
        if path is None:
            return Loaded(None)
        return Loaded(embedder.prepare(images.load_image(path, target=embedder.input_size)))

    batches = list(embed_stream(photos, load, embedder, batch_size=4, workers=2))
    assert [len(b) for b in batches] == [4, 4, 2]
    flat = [e for b in batches for e in b]
    assert [e.item for e in flat] == photos
    assert flat[4].vector is None and all(e.vector is not None for n, e in enumerate(flat) if n != 4)
    want = embedder.embed_prepared([e.loaded.prepared for e in flat if e.loaded.prepared is not None])
    got = np.stack([e.vector for e in flat if e.vector is not None])
    assert float((want * got).sum(axis=1).min()) > 0.9999
    # the workers' single-thread sessions are kept for the next stream: never more of them than workers
    list(embed_stream(photos, load, embedder, batch_size=4, workers=2))
    assert 1 <= len(embedder._lanes[embedder.precision]) <= 2
