"""The engine end to end on real files with the real model: ingest, incremental sync, resume, reopen, determinism."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revsearch import images
from revsearch.collection import Collection
from revsearch.indexing import index_files, index_folder
from revsearch.embed import Embedder
from revsearch.errors import RevsearchError
from revsearch.search import Searcher

REPO = Path(__file__).resolve().parents[2]


def new_collection(directory: Path, embedder: Embedder) -> Collection:
    return Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim)


def copy_photos(clothing_folder, target: Path, count: int) -> list[Path]:
    """`count` real photos copied flat into `target` (one per class first, for variety)."""
    sources = sorted(Path(p) for p in clothing_folder[1])
    picked = sorted(sources, key=lambda p: (sources.index(p) % 12, p))[:count]
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(p, target / f"{n:03d}-{p.name}")) for n, p in enumerate(picked)]


def test_edge_case_files_index_or_skip_with_reason(tmp_path, edge_case_folder, embedder):
    folder, expected = edge_case_folder
    with new_collection(tmp_path / "c", embedder) as coll:
        result = index_folder(coll, folder, embedder, batch_size=8)
        rows = {Path(r.path).relative_to(folder.resolve()).as_posix(): r for r in coll.rows()}
        for name, outcome in expected.items():
            row = rows[name]
            if outcome == "skip":
                assert row.status == "skipped" and row.reason, name
            else:
                assert row.status in ("indexed", "duplicate"), (name, row.reason)
        assert len(result.skipped) == sum(1 for o in expected.values() if o == "skip")
        assert coll.index().ntotal == coll.counts()["indexed"]


def test_identical_files_are_embedded_once(tmp_path, clothing_folder, embedder):
    photos = copy_photos(clothing_folder, tmp_path / "photos", 3)
    shutil.copy2(photos[0], tmp_path / "photos" / "copy-a.jpg")
    (tmp_path / "photos" / "sub").mkdir()
    shutil.copy2(photos[0], tmp_path / "photos" / "sub" / "copy-b.jpg")
    with new_collection(tmp_path / "c", embedder) as coll:
        result = index_folder(coll, tmp_path / "photos", embedder)
        assert result.indexed == 3 and len(result.duplicates) == 2
        original = coll.by_path(photos[0].resolve()) or coll.by_path(tmp_path / "photos" / "copy-a.jpg")
        assert {orig for _, orig in result.duplicates} == {original.path}
        # the original goes away: a copy inherits its vector, nothing is re-embedded
        os.unlink(original.path)
        again = index_folder(coll, tmp_path / "photos", embedder)
        assert (again.missing, again.removed, again.embedded) == (1, 0, 0)
        assert coll.counts() == {"indexed": 3, "skipped": 0, "duplicate": 1, "missing": 1}
        assert index_folder(coll, tmp_path / "photos", embedder, prune=True).removed == 1
        assert coll.counts() == {"indexed": 3, "skipped": 0, "duplicate": 1, "missing": 0}


def test_incremental_add_change_delete(tmp_path, clothing_folder, embedder):
    photos = copy_photos(clothing_folder, tmp_path / "photos", 20)
    with new_collection(tmp_path / "c", embedder) as coll:
        first = index_folder(coll, tmp_path / "photos", embedder)
        assert (first.indexed, first.unchanged) == (20, 0)
        assert index_folder(coll, tmp_path / "photos", embedder).unchanged == 20  # nothing to do twice

        extra = copy_photos(clothing_folder, tmp_path / "more", 24)[20:]
        for p in extra[:2]:
            shutil.move(p, tmp_path / "photos" / p.name)
        changed = photos[5]
        Image.open(changed).transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(changed, quality=90)
        os.unlink(photos[7])
        before_id = coll.by_path(changed.resolve()).id
        before_vec = coll.vectors([before_id])[1][0]

        result = index_folder(coll, tmp_path / "photos", embedder, prune=True)
        assert (result.indexed, result.updated, result.missing, result.removed, result.unchanged) == (2, 1, 1, 1, 18)
        assert result.embedded == 3  # work for 3 images, not 21
        assert coll.by_path(photos[7].resolve()) is None
        after = coll.by_path(changed.resolve())
        assert after.id == before_id
        assert not np.allclose(coll.vectors([before_id])[1][0], before_vec)
        assert coll.index().ntotal == 21

        hits = Searcher(coll, embedder).by_images([changed], k=1)[0]
        assert hits[0].path == str(changed.resolve()) and hits[0].score > 0.99


def test_index_files_adds_without_removing(tmp_path, clothing_folder, embedder):
    photos = copy_photos(clothing_folder, tmp_path / "photos", 4)
    with new_collection(tmp_path / "c", embedder) as coll:
        index_files(coll, photos[:2], embedder)
        result = index_files(coll, photos[2:], embedder)
        assert result.indexed == 2 and coll.counts()["indexed"] == 4


def test_killed_run_resumes_without_reembedding(tmp_path, clothing_folder):
    folder = tmp_path / "photos"
    shutil.copytree(clothing_folder[0], folder)
    total = sum(1 for _ in folder.rglob("*.jpg"))
    collection = tmp_path / "c"
    cmd = [sys.executable, "-m", "revsearch", "index", str(folder), "--collection", str(collection),
           "--batch-size", "4", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    catalog = collection / "catalog.sqlite"
    committed = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if catalog.exists():
            try:
                with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1) as conn:
                    committed = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0
            if committed >= 12:
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 12 <= committed < total, "the run must be killed mid-way for this test to mean anything"

    with Collection.open(collection) as coll:  # opens cleanly after a kill
        survived = coll.counts()["indexed"]
        assert survived >= committed and survived % 4 == 0
        assert coll.index().ntotal == survived

    out = subprocess.run(cmd[:-1] + ["--json"], cwd=REPO, capture_output=True, text=True, check=True)
    import json

    report = json.loads(out.stdout)
    assert report["unchanged"] == survived
    assert report["indexed"] == total - survived


def test_reopen_gives_identical_results(tmp_path, clothing_collection_dir, clothing_folder, embedder):
    queries = sorted(clothing_folder[1])[::17]
    with Collection.open(clothing_collection_dir) as coll:
        first = Searcher(coll, embedder).by_images(queries, k=10)
    with Collection.open(clothing_collection_dir) as coll:
        second = Searcher(coll, embedder).by_images(queries, k=10)
    assert first == second
    assert all(hits[0].path == q and hits[0].score > 0.999 for q, hits in zip(queries, first))


def test_batch_and_single_embeddings_agree(clothing_folder, embedder):
    paths = sorted(clothing_folder[1])[:9]
    decoded = [images.load_image(p, target=embedder.input_size) for p in paths]
    batch = embedder.embed_images(decoded)
    singles = np.concatenate([embedder.embed_images([img]) for img in decoded])
    assert np.abs(batch - singles).max() < 1e-4
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert batch.dtype == np.float32 and batch.shape == (9, 1280)


def test_onnx_path_matches_torch_path(clothing_folder, embedder):
    if embedder.backend != "onnx":
        pytest.skip("ONNX Runtime backend not active")
    embedder = embedder.for_precision("fp32")
    paths = sorted(clothing_folder[1])[::12]
    arrays = np.stack([embedder.prepare(images.load_image(p, target=224)).square for p in paths])
    fast, ref = embedder.embed_batch(arrays), embedder.embed_batch_torch(arrays)
    assert np.sum(fast * ref, axis=1).min() >= 0.999


def test_euclidean_metric_ranks_like_cosine(clothing_collection_dir, clothing_folder, embedder):
    query = sorted(clothing_folder[1])[3]
    with Collection.open(clothing_collection_dir) as coll:
        searcher = Searcher(coll, embedder)
        cos = searcher.by_images([query], k=8)[0]
        euc = searcher.by_images([query], k=8, metric="euclidean")[0]
        assert [h.id for h in cos] == [h.id for h in euc]
        assert euc[0].score < 1e-3 and all(a.score <= b.score for a, b in zip(euc, euc[1:]))
        more = searcher.by_ids([cos[0].id], k=5)[0]
        assert cos[0].id not in [h.id for h in more] and [h.id for h in more] == [h.id for h in cos[1:6]]


def test_scores_are_exact_although_the_index_scans_float16_codes(clothing_collection_dir):
    from revsearch.search import search_vectors, stored_vectors

    with Collection.open(clothing_collection_dir) as coll:
        assert coll.index_info().kind == "IDMap2,SQfp16"
        ids, vectors = coll.vectors()
        for row in (0, 5, len(ids) - 1):
            hits = search_vectors(coll, vectors[row : row + 1], 10, space="raw")[0]
            assert hits[0].id == int(ids[row]) and abs(hits[0].score - 1.0) < 1e-6
            exact = stored_vectors(coll, [h.id for h in hits]) @ vectors[row]
            assert np.allclose([h.score for h in hits], exact, atol=1e-6)
            whole = vectors @ vectors[row]  # the true top 10 of a brute-force float32 scan
            assert sorted(h.id for h in hits) == sorted(ids[np.argsort(-whole)[:10]].tolist())


def test_other_model_is_refused(tmp_path, clothing_collection_dir):
    other = Embedder("resnet50", random_weights=True)
    with Collection.open(clothing_collection_dir) as coll:
        with pytest.raises(RevsearchError, match="efficientnet_lite0"):
            Searcher(coll, other)


def test_resnet50_architecture_with_random_weights():
    net = Embedder("resnet50", random_weights=True)
    img = Image.new("RGB", (300, 200), (120, 30, 200))
    vec = net.embed_images([img, img.rotate(90)])
    assert vec.shape == (2, 2048) and np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)


def test_float16_storage_and_ann_index(tmp_path, clothing_folder, embedder, monkeypatch):
    from revsearch.collection import vector_index

    monkeypatch.setattr(vector_index, "EXACT_LIMIT", 50)  # force ANN on a 120-image collection
    with Collection.create(tmp_path / "c", embedder.name, embedder.fingerprint, embedder.dim,
                           vector_dtype="float16") as coll:
        index_folder(coll, clothing_folder[0], embedder)
        info_before = coll.index() and coll.index_info()
        assert info_before.kind.startswith("IVF") and info_before.recall_at_10 >= 0.95
        ids, vecs = coll.vectors()
        assert vecs.dtype == np.float32 and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=2e-3)
        query = sorted(clothing_folder[1])[7]
        top = Searcher(coll, embedder).by_images([query], k=3)[0][0]
        assert top.path == query and top.score > 0.99
    with Collection.open(tmp_path / "c") as coll:  # the calibrated nprobe survives a reopen
        coll.index()
        assert coll.index_info() == info_before and coll.vector_dtype == np.float16


def test_eval_cli_on_an_imagefolder(tmp_path, clothing_folder):
    import json

    root = tmp_path / "four"
    for label in ("dress", "hat", "shoes"):
        for path in sorted(p for p, lab in clothing_folder[1].items() if lab == label)[:4]:
            (root / label).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, root / label / Path(path).name)
    out = subprocess.run([sys.executable, "-m", "revsearch", "eval", str(root), "--json", "-q"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    metrics = json.loads(out.stdout)
    assert metrics["images"] == 12 and metrics["classes"] == 3
    assert 0.5 < metrics["mAP"] <= 1 and 2.0 < metrics["N-S"] <= 4  # UKBench protocol: 4 per class


@pytest.mark.parametrize("exact_limit", [10_000, 50])
def test_index_is_patched_not_rebuilt_after_small_changes(tmp_path, clothing_folder, embedder, monkeypatch,
                                                          exact_limit):
    from revsearch.collection import vector_index

    monkeypatch.setattr(vector_index, "EXACT_LIMIT", exact_limit)  # 50: the ANN (IVF) path on 120 images
    builds = []
    real_build = vector_index.build_from
    monkeypatch.setattr(vector_index, "build_from", lambda *a, **kw: builds.append(1) or real_build(*a, **kw))
    folder = tmp_path / "photos"
    shutil.copytree(clothing_folder[0], folder)
    later = sorted(folder.rglob("*.jpg"))[:3]
    parked = tmp_path / "parked"
    parked.mkdir()
    for p in later:
        shutil.move(p, parked / p.name)
    with new_collection(tmp_path / "c", embedder) as coll:
        index_folder(coll, folder, embedder)
        coll.index()
        first = coll.index_info()
        assert len(builds) == 1 and first.ntotal == 117
        for p in later[:2]:
            shutil.move(parked / p.name, folder / p.name)  # two new images
        gone = sorted(folder.rglob("*.jpg"))[10]
        os.unlink(gone)  # one deleted
        edited = sorted(folder.rglob("*.jpg"))[20]
        Image.open(edited).rotate(90, expand=True).save(edited, quality=90)  # one changed
        index_folder(coll, folder, embedder)
        index = coll.index()
        info = coll.index_info()
        assert len(builds) == 1, "a small change must patch the index, not rebuild it"
        assert info.ntotal == index.ntotal == 118 and info.kind == first.kind and info.built_at > first.built_at
        assert info.trained_n == first.trained_n
        held = set(vector_index.stored_ids(index).tolist())
        assert held == set(coll.vectors()[0].tolist())
        searcher = Searcher(coll, embedder)
        for query in [folder / later[0].name, edited]:
            top = searcher.by_images([query], k=1)[0][0]
            assert top.path == str(query.resolve()) and top.score > (0.99 if exact_limit > 120 else 0.95)  # SQ8
    with Collection.open(tmp_path / "c") as coll:  # the patched index is what was saved
        assert coll.index().ntotal == 118 and len(builds) == 1
