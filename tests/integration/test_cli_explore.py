"""The exploration CLI contract: cluster, map, label, suggest, export, duplicates, montage — JSON shapes, exit codes,
one-line errors. Mostly in-process through `revsearch.cli.main` (fast); one subprocess pair proves that clusters are
the same from one run of the program to the next."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import error_line, ok_json, run

REPO = Path(__file__).resolve().parents[2]






@pytest.fixture
def cdir(fresh_collection) -> str:
    directory = str(fresh_collection.directory)
    fresh_collection.close()
    return directory


def test_cluster_label_suggest_export_flow(capsys, cdir, tmp_path, clothing_folder):
    data = ok_json(capsys, "cluster", "--collection", cdir, "-k", "6", "-q")
    assert data["k"] == 6 and data["reclustered"] is True
    assert len(data["clusters"]) == 6
    first = data["clusters"][0]
    assert {"id", "size", "cohesion", "representatives", "members", "name", "outliers"} <= set(first)
    assert isinstance(first["id"], int) and isinstance(first["cohesion"], float)
    assert sum(c["size"] for c in data["clusters"]) == 120
    assert all(len(c["members"]) == c["size"] and Path(c["members"][0]).is_absolute() for c in data["clusters"])
    assert first["representatives"] == first["members"][: len(first["representatives"])]

    again = ok_json(capsys, "cluster", "--collection", cdir, "-k", "6")
    assert again["reclustered"] is False and again["clusters"] == data["clusters"]
    shown = ok_json(capsys, "cluster", "--collection", cdir)
    assert shown["clusters"] == data["clusters"]

    assert ok_json(capsys, "label", "--collection", cdir, "--cluster", "0", "--name", "first")["changed"] == first["size"]
    some = data["clusters"][1]["members"][:2]
    assert ok_json(capsys, "label", "--collection", cdir, "--image", *some, "--name", "second")["changed"] == 2
    assert ok_json(capsys, "label", "--collection", cdir, "--image", some[0], "--remove")["changed"] == 1
    assert ok_json(capsys, "label", "--collection", cdir, "--rename", "second", "--name", "2nd")["changed"] == 1
    listed = ok_json(capsys, "label", "--collection", cdir, "--list")
    assert listed["labels"] == {"first": first["size"], "2nd": 1}
    assert listed["history"][0]["event"] == "renamed"

    sugg = ok_json(capsys, "suggest", "--collection", cdir)
    # calibrated suggestions: images likelier of none of the two known labels get none (here: most of them)
    assert len(sugg["suggestions"]) <= 120 - first["size"] - 1 and sugg["accepted"] is None
    accepted = ok_json(capsys, "suggest", "--collection", cdir, "--accept-above", "0.9")
    assert accepted["accepted"] == sum(1 for s in sugg["suggestions"] if s["confidence"] >= 0.9)
    everything = ok_json(capsys, "suggest", "--collection", cdir, "--accept-above", "0")  # labels every image
    assert everything["accepted"] == 120 - first["size"] - 1 - accepted["accepted"]

    rep = ok_json(capsys, "export", "--collection", cdir, "--format", "csv", "--out", str(tmp_path / "l.csv"))
    assert rep["written"] == 120
    with open(tmp_path / "l.csv", newline="") as fh:
        assert next(csv.reader(fh))[:4] == ["path", "label", "cluster", "confidence"]
    rep = ok_json(capsys, "export", "--collection", cdir, "--format", "json", "--out", str(tmp_path / "l.json"))
    assert len(json.loads((tmp_path / "l.json").read_text())["images"]) == 120
    rep = ok_json(capsys, "export", "--collection", cdir, "--format", "imagefolder", "--out", str(tmp_path / "f"),
                  "--link", "-q")
    assert rep["written"] == rep["labelled"] == 120
    assert (tmp_path / "f" / "first").is_dir() and all(p.is_symlink() for p in (tmp_path / "f").rglob("*.jpg"))
    line = error_line(capsys, "export", "--collection", cdir, "--format", "imagefolder", "--out", str(tmp_path / "f"))
    assert "not empty" in line

    code, out, _ = run(capsys, "cluster", "--collection", cdir, "--merge", "1", "2", "--name", "merged", "--json")
    merged = json.loads(out)
    assert code == 0 and len(merged["clusters"]) == 5
    assert next(c for c in merged["clusters"] if c["id"] == 1)["name"] == "merged"


def test_map_duplicates_and_montage(capsys, tmp_path, clothing_folder, embedder):
    from revsearch.collection import Collection
    from revsearch.indexing import index_files

    photos = sorted(Path(p) for p in clothing_folder[1])[::12]  # 10 photos: a PCA map, no UMAP wait
    coll = Collection.create(tmp_path / "small", embedder.name, embedder.fingerprint, embedder.dim)
    with coll:
        index_files(coll, photos, embedder)
    cdir = str(tmp_path / "small")
    points = ok_json(capsys, "map", "--collection", cdir, "-q")
    assert len(points) == 10 and {"path", "x", "y", "cluster"} <= set(points[0])
    assert all(p["cluster"] is None for p in points)
    code, out, _ = run(capsys, "map", "--collection", cdir)
    assert code == 0 and "up to date" in out

    dups = ok_json(capsys, "duplicates", "--collection", cdir)
    assert dups == {"threshold": 0.92, "groups": []}  # the default measured for two-view collections
    low = ok_json(capsys, "duplicates", "--collection", cdir, "--threshold", "0.3")
    assert low["groups"] and {"members", "exact", "max_score", "pairs"} <= set(low["groups"][0])
    assert {"path", "score", "exact"} <= set(low["groups"][0]["members"][0])

    ok_json(capsys, "cluster", "--collection", cdir, "-k", "2", "-q")
    out_png = tmp_path / "sheets" / "c0.png"
    info = ok_json(capsys, "montage", "--collection", cdir, "--cluster", "0", "--out", str(out_png))
    assert out_png.read_bytes()[:4] == b"\x89PNG" and info["width"] > 0
    query_png = tmp_path / "q.png"
    code, out, err = run(capsys, "montage", "--collection", cdir, "--query", str(photos[0]), "--out",
                         str(query_png), "-k", "4")
    assert code == 0 and query_png.is_file() and "wrote" in out


def test_errors_are_one_line(capsys, cdir, tmp_path):
    assert "no collection" in error_line(capsys, "cluster", "--collection", str(tmp_path / "none"), "-k", "3")
    assert "no clusters yet" in error_line(capsys, "cluster", "--collection", cdir)
    assert "no clusters yet" in error_line(capsys, "label", "--collection", cdir, "--cluster", "0", "--name", "x")
    assert "no labelled images" in error_line(capsys, "suggest", "--collection", cdir)
    assert "more than the 120" in error_line(capsys, "cluster", "--collection", cdir, "-k", "500")
    assert "not in this collection" in error_line(capsys, "label", "--collection", cdir, "--image", "/no/such.jpg",
                                                  "--name", "x")
    assert "--name" in error_line(capsys, "label", "--collection", cdir, "--image", "/no/such.jpg")
    ok_json(capsys, "cluster", "--collection", cdir, "-k", "3", "-q")
    assert "no cluster 7" in error_line(capsys, "montage", "--collection", cdir, "--cluster", "7", "--out",
                                        str(tmp_path / "x.png"))
    assert "folder" in error_line(capsys, "export", "--collection", cdir, "--format", "csv", "--out", str(tmp_path))


def test_clusters_are_identical_from_separate_runs(tmp_path, clothing_collection_dir):
    procs = []
    for name in ("a", "b"):  # two programs at once, on two copies
        shutil.copytree(clothing_collection_dir, tmp_path / name)
        procs.append(subprocess.Popen([sys.executable, "-m", "revsearch", "cluster", "--collection",
                                       str(tmp_path / name), "-k", "10", "--json", "-q"], cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append([(c["id"], [Path(p).name for p in c["members"]]) for c in json.loads(out)["clusters"]])
    assert outputs[0] == outputs[1]
