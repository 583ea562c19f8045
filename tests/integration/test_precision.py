"""int8 inference with the real model: it agrees with fp32 on real photos, a collection keeps the precision it was
made in (and refuses the other), and the quantised graph is a cache that survives a restart and follows its sources."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from revsearch import images
from revsearch.collection import Collection
from revsearch.distributed.ingest import open_for, shards_model
from revsearch.embed import Embedder, quantize
from revsearch.embed.embedder import onnx_cache_path
from revsearch.embed.quantize import calibration_photos, int8_path
from revsearch.errors import RevsearchError
from revsearch.indexing import index_files, pairing
from revsearch.precisions import FP32, INT8
from revsearch.search import Searcher

from tests.integration.conftest import error_line, ok_json

REPO = Path(__file__).resolve().parents[2]


def _not_calibration(clothing_folder) -> list[str]:
    """Clothing photos that are not among the calibration photos (named <class>-<first 8 of the original>.jpg)."""
    shipped = {p.stem.split("-", 1)[1] for p in calibration_photos()}
    return [p for p in sorted(clothing_folder[1]) if Path(p).stem[:8] not in shipped]


def test_int8_is_the_default_and_agrees_with_fp32_per_image(clothing_folder, embedder):
    if embedder.backend != "onnx":
        pytest.skip("ONNX Runtime backend not active")
    assert embedder.precision == INT8
    fp32 = embedder.for_precision(FP32)
    assert fp32.for_precision(INT8)._ort is embedder._ort  # one session per precision, shared by the copies
    paths = _not_calibration(clothing_folder)
    assert len(paths) >= 90
    decoded = [images.load_image(p, target=embedder.input_size) for p in paths]
    cosine = np.sum(embedder.embed_images(decoded) * fp32.embed_images(decoded), axis=1)
    # measured on 633 held-out clothing-small photos: mean 0.997, worst 0.991
    assert cosine.mean() >= 0.995 and cosine.min() >= quantize.MIN_COSINE, (cosine.mean(), cosine.min())
    assert cosine.max() < 0.99999  # int8 is really running: its vectors are close to fp32's, not equal


def test_collection_records_its_precision_and_refuses_the_other(tmp_path, capsys, clothing_folder, embedder):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted(clothing_folder[1])[:6]:
        shutil.copy2(path, folder / Path(path).name)
    made = ok_json(capsys, "index", str(folder), "-c", str(tmp_path / "c"), "-q")
    assert made["precision"] == INT8
    assert ok_json(capsys, "info", "-c", str(tmp_path / "c"))["precision"] == INT8
    line = error_line(capsys, "index", str(folder), "-c", str(tmp_path / "c"), "--precision", "fp32", "-q")
    assert "was built in int8; vectors made in fp32 are not its own" in line
    with Collection.open(tmp_path / "c") as coll:
        with pytest.raises(RevsearchError, match="built in int8"):
            pairing.check(coll, coll.model, coll.fingerprint, precision=FP32)
        # an fp32 embedder handed to the collection embeds queries in int8, as its images were
        queries = sorted(map(str, folder.iterdir()))[:2]
        fp32_hits = Searcher(coll, embedder.for_precision(FP32)).by_images(queries)
        int8_hits = Searcher(coll, embedder).by_images(queries)
        assert fp32_hits == int8_hits and fp32_hits[0][0].score > 0.9999
    # shards made in fp32 are not ingested into it
    shards = tmp_path / "shards"
    ok_json(capsys, "embed", str(folder), "--out", str(shards), "--precision", "fp32", "-q")
    with pytest.raises(RevsearchError, match="built in int8; vectors made in fp32"):
        open_for(tmp_path / "c", shards_model(sorted(shards.glob("*.parquet")), None), [])


def test_collection_without_a_recorded_precision_stays_fp32(tmp_path, clothing_folder, embedder):
    paths = sorted(clothing_folder[1])[:4]
    with pairing.create_for(tmp_path / "old", embedder) as coll:
        assert coll.precision == INT8  # a new Lite0 collection: the model's default
    with sqlite3.connect(tmp_path / "old" / "catalog.sqlite") as conn:  # as a revsearch before precision left it
        conn.execute("DELETE FROM meta WHERE key = 'precision'")
    conn.close()
    with Collection.open(tmp_path / "old") as coll:
        assert coll.precision == FP32
        index_files(coll, paths, embedder)  # the default (int8) embedder adds fp32 vectors to it
        ids, stored = coll.vectors()
        order = np.argsort([coll.paths(ids.tolist())[int(i)] for i in ids])
        decoded = [images.load_image(p, target=embedder.input_size) for p in paths]
        np.testing.assert_allclose(stored[order], embedder.for_precision(FP32).embed_images(decoded), atol=1e-5)


def test_int8_graph_survives_a_restart(embedder):
    if embedder.precision != INT8:
        pytest.skip("no int8 graph on this machine")
    graph = embedder.graph_path()
    before = graph.stat().st_mtime_ns
    out = subprocess.run([sys.executable, "-c", "from revsearch.embed import Embedder; "
                          "e = Embedder('efficientnet_lite0'); print(e.precision, e.graph_path())"],
                         cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.split() == [INT8, str(graph)]
    assert "building the int8 graph" not in out.stderr and graph.stat().st_mtime_ns == before


def test_int8_graph_is_rebuilt_when_its_source_changes(tmp_path, monkeypatch, caplog, embedder):
    """A private cache and a small calibration set (so that each build takes seconds): the graph is built once, not
    again while its sources stay, and anew when the fp32 graph or the calibration photos change."""
    import onnx

    if embedder.backend != "onnx":
        pytest.skip("ONNX Runtime backend not active")
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for photo in calibration_photos()[::16]:
        shutil.copy2(photo, calibration / photo.name)
    monkeypatch.setattr(quantize, "CALIBRATION", calibration)
    exported = embedder.onnx_path()
    monkeypatch.setenv("REVSEARCH_CACHE", str(tmp_path / "cache"))
    source = onnx_cache_path(embedder.name, embedder.fingerprint)  # where this cache keeps the fp32 graph
    source.parent.mkdir(parents=True)
    shutil.copy2(exported, source)

    def built(make) -> tuple[Path, bool]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="revsearch.embed.quantize"):
            loaded = make()
        return loaded.graph_path(), "building the int8 graph" in caplog.text

    first, was_built = built(lambda: Embedder(embedder.name, precision=INT8))
    assert was_built and first.exists() and first.parent == source.parent
    assert built(lambda: Embedder(embedder.name, precision=INT8)) == (first, False)
    model = onnx.load(str(source))  # the fp32 graph changes (as after a torch upgrade): same function, new bytes
    onnx.helper.set_model_props(model, {"exported": "again"})
    onnx.save(model, str(source))
    second, was_built = built(lambda: Embedder(embedder.name, precision=INT8))
    assert was_built and second != first and second.exists() and first.exists()
    shutil.copy2(calibration_photos()[1], calibration / "extra.jpg")  # so do the calibration photos
    assert int8_path(source) not in (first, second)
