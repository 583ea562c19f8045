"""The engine's CLI contract: `index`, `search`, `info`, `models` and their errors, run as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "revsearch", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, clothing_folder, edge_case_folder) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A folder of 30 real photos plus two bad files, indexed through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    folder = root / "photos"
    for n, path in enumerate(sorted(clothing_folder[1])[::4]):
        target = folder / Path(path).parent.name / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(Path(sorted(clothing_folder[1])[0]).read_bytes()[:3000])
    proc = cli("index", str(folder), "--collection", str(root / "coll"))
    return folder, root / "coll", proc


def test_index_summary_and_exit_code(indexed):
    folder, _, proc = indexed
    assert proc.returncode == 0
    assert "indexed 30" in proc.stdout and "skipped 2" in proc.stdout
    assert "notes.txt: not an image" in proc.stdout and "broken.jpg: truncated" in proc.stdout
    assert "model: efficientnet_lite0" in proc.stderr  # the default choice is printed


def test_search_json_contract_many_queries(indexed):
    folder, coll, _ = indexed
    queries = sorted(str(p) for p in folder.rglob("*.jpg") if p.name != "broken.jpg")[:3]
    out = json.loads(cli("search", *queries, "--collection", str(coll), "-k", "5", "--json").stdout)
    assert [entry["query"] for entry in out] == queries
    for query, entry in zip(queries, out):
        assert len(entry["results"]) == 5
        top = entry["results"][0]
        assert set(top) == {"id", "path", "score"} and isinstance(top["id"], int)
        assert Path(top["path"]).is_absolute() and top["path"] == str(Path(query).resolve())
        scores = [r["score"] for r in entry["results"]]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0.999


def test_search_with_a_bad_query_reports_it(indexed):
    folder, coll, _ = indexed
    good = next(str(p) for p in folder.rglob("*.jpg") if p.name != "broken.jpg")
    proc = cli("search", good, str(folder / "notes.txt"), "--collection", str(coll), "--json", check=False)
    assert proc.returncode != 0 and "notes.txt" in proc.stderr
    out = json.loads(proc.stdout)
    assert len(out[0]["results"]) == 10 and out[1]["results"] == [] and "not an image" in out[1]["error"]


def test_info_json(indexed):
    folder, coll, _ = indexed
    info = json.loads(cli("info", "--collection", str(coll), "--json").stdout)
    assert info["model"] == "efficientnet_lite0" and info["dim"] == 1280
    assert info["counts"] == {"indexed": 30, "skipped": 2, "duplicate": 0, "missing": 0}
    assert {Path(s["path"]).name for s in info["skipped"]} == {"notes.txt", "broken.jpg"}
    assert all(s["reason"] for s in info["skipped"])


def test_reindex_is_incremental(indexed):
    folder, coll, _ = indexed
    out = json.loads(cli("index", str(folder), "--collection", str(coll), "--json", "-q").stdout)
    assert (out["indexed"], out["unchanged"], out["removed"]) == (0, 32, 0)


@pytest.mark.parametrize("args, message", [
    (["index", "/nonexistent/folder", "--collection", "{tmp}/c"], "folder not found"),
    (["search", "{img}", "--collection", "{tmp}/nothing"], "no collection"),
    (["info", "--collection", "{tmp}/garbage"], "cannot read"),
    (["search", "{img}", "--collection", "{coll}", "--crop", "1,2,3"], "--crop takes x,y,w,h"),
    (["index", "{folder}", "--collection", "{coll}", "--model", "resnet50"], "built with model 'efficientnet_lite0'"),
    (["search", "{img}", "--collection", "{coll}", "--model", "resnet50"], "built with model 'efficientnet_lite0'"),
])
def test_errors_are_one_clear_line(indexed, tmp_path, args, message):
    folder, coll, _ = indexed
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    img = next(str(p) for p in folder.rglob("*.jpg"))
    filled = [a.format(tmp=tmp_path, img=img, folder=folder, coll=coll) for a in args]
    proc = cli(*filled, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_models_lists_what_each_needs():
    out = json.loads(cli("models", "--json").stdout)
    names = {m["name"]: m for m in out["models"]}
    assert names["efficientnet_lite0"]["available_offline"] is True
    assert "resnet50" in names and "TORCH_HOME" in names["resnet50"]["needs"]


def test_index_prepare_is_opt_in(indexed, tmp_path):
    """`index --json` keeps its keys; `--prepare` adds thumbnails, clusters and the map, as the app does."""
    folder, _, _ = indexed
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in [p for p in sorted(folder.rglob("*.jpg")) if p.name != "broken.jpg"][:6]:
        shutil.copy2(path, photos / path.name)
    plain = json.loads(cli("index", str(photos), "--collection", str(tmp_path / "a"), "--json", "-q").stdout)
    assert set(plain) >= {"collection", "model", "backend", "scanned", "indexed", "updated", "unchanged", "removed",
                          "seconds", "images_per_second", "skipped", "duplicates"}  # keys kept; new ones added:
    assert set(plain) - {"collection", "model", "backend", "scanned", "indexed", "updated", "unchanged", "removed",
                         "seconds", "images_per_second", "skipped", "duplicates"} == {
        "missing", "restored", "moved", "moves", "warnings", "precision"}
    assert not (tmp_path / "a" / "thumbs").exists()
    out = json.loads(cli("index", str(photos), "--collection", str(tmp_path / "b"), "--json", "-q",
                         "--prepare").stdout)
    n = out["indexed"]
    assert n == 6 and {k: v for k, v in out.items() if k != "prepared"}.keys() == plain.keys()
    assert out["prepared"]["thumbnails"] == 2 * n and out["prepared"]["clusters"] >= 2 and out["prepared"]["map"]
    assert len(list((tmp_path / "b" / "thumbs").glob("*/*.jpg"))) == 2 * n


def test_a_reader_that_stops_early_is_not_an_error(indexed):
    """`revsearch search … --json | head -1`: the closed pipe ends the command quietly with exit 0."""
    _folder, collection, _ = indexed
    query = sorted(p for p in _folder.rglob("*.jpg"))[0]
    proc = subprocess.Popen([sys.executable, "-m", "revsearch", "search", str(query), "--collection", str(collection),
                             "-k", "30"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command prints anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Broken pipe" not in err and "Traceback" not in err


def test_search_by_a_region_finds_the_image_it_came_from(indexed):
    """A region (the centre half) of an indexed photo: its best hit is that photo; the JSON contract is unchanged."""
    folder, coll, _ = indexed
    queries = sorted(str(p) for p in folder.rglob("*.jpg") if p.name != "broken.jpg")[:3]
    for query in queries:
        with Image.open(query) as im:
            w, h = im.size
        box = f"{w // 4},{h // 4},{w // 2},{h // 2}"
        out = json.loads(cli("search", query, "--collection", str(coll), "-k", "3", "--crop", box, "--json").stdout)
        assert set(out[0]) == {"query", "results"}
        assert out[0]["results"][0]["path"] == str(Path(query).resolve())
        assert out[0]["results"][0]["score"] < 0.999  # a region, not the whole picture
    with Image.open(queries[0]) as im:
        w, h = im.size
    proc = cli("search", queries[0], "--collection", str(coll), "--crop", "0,0,99999,10", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"revsearch: error: cannot use {queries[0]} as a query: the crop "
                                                f"0,0,99999,10 reaches outside the {w}×{h} image (x + w must be ≤ "
                                                f"{w}, y + h ≤ {h})"]
