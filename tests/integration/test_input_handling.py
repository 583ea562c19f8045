"""Input handling with the real model: collections keep the mode they were made with, new ones get two views, and
every query and indexing path follows the collection's mode."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revsearch import images, near_duplicates
from revsearch.collection import Collection
from revsearch.indexing import index_files, index_folder
from revsearch.embed.views import letterbox, native
from revsearch.input_modes import LETTERBOX, TWO_VIEWS
from revsearch.precisions import FP32
from revsearch.regions import crop
from revsearch.search import Searcher, search_vectors

from tests.integration.conftest import error_line, ok_json


def _wide(path: str) -> Image.Image:
    """The central 3:2 strip of a photo: a landscape picture that fills its frame."""
    img = images.load_image(path, target=224)
    w, h = img.size
    if w / h >= 1.5:
        return img
    top = (h - round(w / 1.5)) // 2
    return img.crop((0, top, w, top + round(w / 1.5)))


def _letterbox_vectors(embedder, decoded: list[Image.Image]) -> np.ndarray:
    """What revsearch computed before input handling (and precision) was a choice: the letterbox alone, in fp32."""
    embedder = embedder.for_precision(FP32)
    return embedder.embed_batch(np.stack([letterbox(img, embedder.spec) for img in decoded]))


@pytest.fixture
def old_collection(tmp_path: Path, clothing_folder, embedder) -> Path:
    """A collection as an older revsearch left it: indexed with the letterbox, no input handling in its metadata."""
    directory = tmp_path / "old"
    paths = sorted(clothing_folder[1])[:24]
    with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim, input_mode=LETTERBOX) as c:
        index_files(c, paths, embedder)
    with sqlite3.connect(directory / "catalog.sqlite") as conn:
        conn.execute("DELETE FROM meta WHERE key = 'input_mode'")
    conn.close()
    return directory


def test_old_collection_keeps_the_letterbox(old_collection: Path, clothing_folder, embedder):
    paths = sorted(clothing_folder[1])
    assert embedder.input_mode == TWO_VIEWS  # the loaded model's default is the new mode …
    with Collection.open(old_collection) as coll:
        assert coll.input_mode == LETTERBOX  # … but the collection keeps its own
        assert near_duplicates.default_threshold(coll) == 0.90  # and the duplicate threshold measured for it
        ids, stored = coll.vectors()
        by_path = {coll.paths(ids.tolist())[int(i)]: v for i, v in zip(ids, stored)}
        decoded = [images.load_image(p, target=224) for p in paths[:24]]
        np.testing.assert_allclose(np.stack([by_path[p] for p in paths[:24]]),
                                   _letterbox_vectors(embedder, decoded), atol=1e-5)
        # a query is seen as the collection's images were: same results as a letterbox query
        query = _wide(paths[30])
        expected = search_vectors(coll, _letterbox_vectors(embedder, [query]), k=10)
        got = Searcher(coll, embedder).by_images([query], k=10)
        assert [h.id for h in got[0]] == [h.id for h in expected[0]]
        assert np.allclose([h.score for h in got[0]], [h.score for h in expected[0]], atol=1e-5)
        # images added later are letterboxed too
        report = index_files(coll, paths[24:30], embedder)
        assert report.indexed == 6
        ids, stored = coll.vectors()
        new = {coll.paths(ids.tolist())[int(i)]: v for i, v in zip(ids, stored)}
        decoded = [images.load_image(p, target=224) for p in paths[24:30]]
        np.testing.assert_allclose(np.stack([new[p] for p in paths[24:30]]), _letterbox_vectors(embedder, decoded),
                                   atol=1e-5)
        assert coll.input_mode == LETTERBOX


def test_cli_keeps_an_old_collection_and_refuses_a_contradiction(capsys, old_collection: Path, clothing_folder):
    folder = clothing_folder[0]
    assert ok_json(capsys, "info", "-c", str(old_collection))["input"] == LETTERBOX
    line = error_line(capsys, "index", str(folder), "-c", str(old_collection), "--input", TWO_VIEWS, "-q")
    assert "input handling 'letterbox'" in line and "--input letterbox" in line
    line = error_line(capsys, "eval", str(folder), "-c", str(old_collection), "--input", TWO_VIEWS, "-q")
    assert "input handling 'letterbox'" in line
    report = ok_json(capsys, "index", str(folder), "-c", str(old_collection), "--input", LETTERBOX, "-q")
    assert report["indexed"] == 120 - 24
    assert ok_json(capsys, "info", "-c", str(old_collection))["input"] == LETTERBOX


def test_new_collections_record_two_views(capsys, tmp_path: Path, clothing_folder, embedder):
    with Collection.create(tmp_path / "api", embedder.name, embedder.fingerprint, embedder.dim) as coll:
        assert coll.input_mode == TWO_VIEWS
    with Collection.open(tmp_path / "api") as coll:
        assert coll.input_mode == TWO_VIEWS
        assert near_duplicates.default_threshold(coll) == 0.92
    folder = tmp_path / "few"
    folder.mkdir()
    for path in sorted(clothing_folder[1])[:3]:
        shutil.copy2(path, folder)
    ok_json(capsys, "index", str(folder), "-c", str(tmp_path / "cli"), "-q")
    assert ok_json(capsys, "info", "-c", str(tmp_path / "cli"))["input"] == TWO_VIEWS
    ok_json(capsys, "index", str(folder), "-c", str(tmp_path / "chosen"), "--input", LETTERBOX, "-q")
    assert ok_json(capsys, "info", "-c", str(tmp_path / "chosen"))["input"] == LETTERBOX


def test_two_view_vector_is_the_normalised_sum_of_both_views(clothing_folder, embedder):
    wide = _wide(sorted(clothing_folder[1])[5])
    view = native(wide, embedder.spec)
    assert view is not None and view.shape[:2] == (224, 320)
    square = embedder.embed_batch(letterbox(wide, embedder.spec)[None])[0]
    other = embedder.embed_batch(view[None])[0]
    expected = (square + other) / np.linalg.norm(square + other)
    got = embedder.embed_images([wide])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert float(square @ other) < 0.99  # the second view really is another view
    np.testing.assert_allclose(embedder.for_input(LETTERBOX).embed_images([wide])[0], square, atol=1e-6)


def test_a_square_image_is_embedded_once(clothing_folder, embedder):
    img = images.load_image(sorted(clothing_folder[1])[7], target=224)
    side = min(img.size)
    square_img = img.crop((0, 0, side, side))
    prepared = embedder.prepare(square_img)
    assert prepared.native is None
    shapes: list[tuple[int, ...]] = []

    def counted(batch: np.ndarray) -> np.ndarray:
        shapes.append(batch.shape)
        return embedder.embed_batch(batch)

    from revsearch.embed.views import embed_prepared

    vector = embed_prepared(counted, [prepared], embedder.dim)
    assert shapes == [(1, 224, 224, 3)]
    np.testing.assert_allclose(vector[0], embedder.embed_batch(prepared.square[None])[0], atol=1e-6)


def test_onnx_agrees_with_torch_on_native_views(clothing_folder, embedder):
    if embedder.backend != "onnx":
        pytest.skip("ONNX Runtime backend not active")
    embedder = embedder.for_precision("fp32")  # the graph exported from PyTorch (int8 is checked in test_precision)
    paths = sorted(clothing_folder[1])
    wide = [_wide(p) for p in paths[:4]]
    photos = [images.load_image(p, target=224) for p in paths[4:12]]
    views = [native(img, embedder.spec) for img in [*wide, *photos, Image.new("RGB", (900, 300), (30, 90, 160))]]
    assert sum(v is not None for v in views) >= 8
    for view in (v[None] for v in views if v is not None):
        fast, ref = embedder.embed_batch(view), embedder.embed_batch_torch(view)
        assert float(fast[0] @ ref[0]) >= 0.9999


def test_region_query_uses_the_collections_mode(old_collection: Path, clothing_folder, embedder):
    path = sorted(clothing_folder[1])[3]
    region = crop(images.load_image(path, target=None), (0, 0, 300, 180))
    with Collection.open(old_collection) as coll:
        searcher = Searcher(coll, embedder)
        assert searcher.embedder.input_mode == LETTERBOX
        np.testing.assert_allclose(searcher.embed([region]), _letterbox_vectors(embedder, [region]), atol=1e-5)


def test_index_folder_with_two_views_matches_embed_images(tmp_path: Path, clothing_folder, embedder):
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = sorted(clothing_folder[1])[:12]
    for n, path in enumerate(paths):
        shutil.copy2(path, folder / f"{n:02d}.jpg")
    with Collection.create(tmp_path / "c", embedder.name, embedder.fingerprint, embedder.dim,
                           precision=embedder.precision) as coll:
        index_folder(coll, folder, embedder, batch_size=5)
        ids, stored = coll.vectors()
        names = coll.paths(ids.tolist())
        got = np.stack([v for _, v in sorted((Path(names[int(i)]).name, v) for i, v in zip(ids, stored))])
    expected = embedder.embed_images([images.load_image(p, target=224) for p in paths])
    np.testing.assert_allclose(got, expected, atol=1e-5)
