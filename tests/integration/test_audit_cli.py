"""`revsearch audit` through the real CLI on real photos: planted wrong labels and planted defects are reported with
the right names, clean photos are not; `--against` finds a planted near-copy; acting on issues (take a suggestion,
confirm) and undoing it; measures taken on demand for a collection indexed without them."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from revsearch.indexing import pixel_measures
from revsearch.collection import Collection
from revsearch.indexing import index_folder
from tests.integration.conftest import dataset_rows, error_line, ok_json, subset

# a photo of the first class labelled as the second: kinds no one confuses
FLIPS = [("shoes", "t-shirt"), ("t-shirt", "shoes"), ("hat", "pants"), ("pants", "hat"), ("dress", "shoes"),
         ("longsleeve", "shoes"), ("shorts", "hat"), ("outwear", "shoes")]
DEFECTS = {
    "dark": lambda im: ImageEnhance.Brightness(im).enhance(0.15),
    "blurry": lambda im: im.filter(ImageFilter.GaussianBlur(0.015 * max(im.size))),
    "tiny": lambda im: im.resize((64, 85)),
    "grayscale": lambda im: im.convert("L").convert("RGB"),
    "odd_aspect": lambda im: im.crop((0, 0, im.width, im.width // 3)),
}


@pytest.fixture
def labelled(capsys, tmp_path: Path, devset_collection_dir: Path) -> tuple[Path, dict[str, str], dict]:
    """A copy of the dev set's collection (713 photos) labelled by import, eight photos labelled as another kind.
    Returns (collection dir, path -> given label, path -> true label of the flipped ones)."""
    directory = tmp_path / "collection"
    shutil.copytree(devset_collection_dir, directory)
    truth = {str(p.resolve()): label for p, label in dataset_rows()}
    given, flipped = dict(truth), {}
    for cls, wrong in FLIPS:
        path = sorted(p for p, label in truth.items() if label == cls)[2]
        given[path], flipped[path] = wrong, cls
    table = tmp_path / "labels.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "label"), *sorted(given.items())])
    assert ok_json(capsys, "label", "-c", str(directory), "--import", str(table))["labelled"] == len(truth)
    return directory, given, flipped


def test_label_issues_and_actions_with_undo(capsys, labelled):
    directory, given, flipped = labelled
    c = str(directory)
    report = ok_json(capsys, "audit", "-c", c, "-q")
    issues = {i["path"]: i for i in report["label_issues"]}
    found = [p for p in flipped if p in issues]
    assert len(found) >= 7, sorted(issues)
    assert all(issues[p]["label"] == given[p] for p in found)
    assert sum(issues[p]["suggested"] == flipped[p] for p in found) >= 6, [(flipped[p], issues[p]) for p in found]
    assert len(set(issues) - set(flipped)) <= 25  # the dev set's own ambiguous photos: 14 of 713 with these labels
    assert all(0.5 <= i["score"] <= 1 for i in report["label_issues"])
    assert [i["score"] for i in report["label_issues"]] == sorted((i["score"] for i in report["label_issues"]),
                                                                 reverse=True)
    classes = {k["label"]: k for k in report["classes"]}
    assert classes["hat"]["images"] == 26 - 1 + 2 and classes["hat"]["sources"] == {"import": 27}
    assert classes["hat"]["label_issues"] >= 1 and 0 < classes["hat"]["flagged_share"] <= 1
    assert len(classes["hat"]["typical"]) > 0 and report["labels_checked"] == report["labelled"] == 713

    one, other = found[0], found[1]
    ids = {i["path"]: i["id"] for i in report["label_issues"]}
    accepted = ok_json(capsys, "audit", "-c", c, "-q", "--accept", str(ids[one]))
    assert accepted["accepted"] == 1 and accepted["relabelled"] == 1
    after = ok_json(capsys, "audit", "-c", c, "-q")
    assert one not in {i["path"] for i in after["label_issues"]}
    assert ok_json(capsys, "label", "-c", c, "--undo")["restored"] == 1  # the fix is an ordinary labelling action
    assert one in {i["path"] for i in ok_json(capsys, "audit", "-c", c, "-q")["label_issues"]}

    assert ok_json(capsys, "audit", "-c", c, "--confirm", other) == {"confirmed": 1}
    assert other not in {i["path"] for i in ok_json(capsys, "audit", "-c", c, "-q")["label_issues"]}
    assert ok_json(capsys, "audit", "-c", c, "--unconfirm", other) == {"unconfirmed": 1}
    assert other in {i["path"] for i in ok_json(capsys, "audit", "-c", c, "-q")["label_issues"]}
    right = next(p for p in given if p not in issues)
    assert "not a label issue" in error_line(capsys, "audit", "-c", c, "-q", "--accept", right)


def test_planted_defects_are_named_and_clean_photos_are_not(capsys, tmp_path, clothing_collection_dir, embedder):
    directory = tmp_path / "collection"
    shutil.copytree(clothing_collection_dir, directory)
    sources = [p for p, _ in subset(14)][-20:]  # photos outside the collection's 12 per class
    planted = tmp_path / "planted"
    expected = {}
    for n, (kind, damage) in enumerate(DEFECTS.items()):
        for src in sources[2 * n : 2 * n + 2]:
            target = planted / kind / src.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(src) as im:
                damage(im.convert("RGB")).save(target, "JPEG", quality=90)
            expected[str(target.resolve())] = kind
    with Collection.open(directory) as coll:
        index_folder(coll, planted, embedder)
    report = ok_json(capsys, "audit", "-c", str(directory), "-q")
    issues = {q["path"]: q for q in report["quality_issues"]}
    for path, kind in expected.items():
        assert kind in issues.get(path, {}).get("issues", []), (kind, issues.get(path))
    clean_flagged = [p for p in issues if p not in expected]
    assert len(clean_flagged) <= 3, clean_flagged  # of 120 clean photos
    dark = next(q for q in report["quality_issues"] if "dark" in q["issues"])
    assert set(pixel_measures.NAMES) <= set(dark["measures"]) and dark["measures"]["highlights"] < 0.35
    assert report["thresholds"]["blur"] >= 0.5 and report["label_issues"] == [] and report["labelled"] == 0

    c = str(directory)
    assert ok_json(capsys, "audit", "-c", c, "-q", "--exclude", "dark") == {"excluded": {"dark": 2}}
    after = ok_json(capsys, "audit", "-c", c, "-q")
    assert not any("dark" in q["issues"] for q in after["quality_issues"])  # left out of exports: not reported
    ok_json(capsys, "export", "-c", c, "--format", "csv", "--out", str(tmp_path / "out.csv"), "-q")
    card = json.loads((tmp_path / "out.csv.dataset.json").read_text())
    assert card["excluded"]["by_reason"] == {"audit: dark": 2}
    assert card["audit"]["quality_issues"] == len(after["quality_issues"]) and card["audit"]["current"] is True
    assert card["audit"]["by_issue"]["blurry"] == 2 and "dark" not in card["audit"]["by_issue"]


def test_against_a_folder_finds_the_planted_near_copy(capsys, tmp_path, clothing_collection_dir, clothing_folder):
    original = sorted(clothing_folder[1])[7]
    outside = tmp_path / "test-set"
    outside.mkdir()
    with Image.open(original) as im:
        im.resize((im.width // 2, im.height // 2)).save(outside / "copy.jpg", "JPEG", quality=80)
    shutil.copy2(subset(14)[-1][0], outside / "other.jpg")  # a photo the collection does not hold
    report = ok_json(capsys, "audit", "-c", str(clothing_collection_dir), "-q", "--against", str(outside))
    assert [(o["path"], o["match"], o["exact"]) for o in report["overlap"]] == [
        (str((outside / "copy.jpg").resolve()), original, False)]
    assert 0.92 <= report["overlap"][0]["score"] <= 1
    assert "--against names this very collection" in error_line(
        capsys, "audit", "-c", str(clothing_collection_dir), "-q", "--against", str(clothing_collection_dir))


def test_measures_are_taken_on_demand_for_a_collection_indexed_without_them(capsys, tmp_path, clothing_folder,
                                                                            embedder, monkeypatch):
    directory = tmp_path / "old"
    photos = tmp_path / "photos"
    shutil.copytree(clothing_folder[0] / "hat", photos / "hat")
    monkeypatch.setattr(pixel_measures, "measure", lambda img: None)  # as revsearch did before it measured
    with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim) as coll:
        index_folder(coll, photos, embedder)
    monkeypatch.undo()
    first = ok_json(capsys, "audit", "-c", str(directory), "-q")
    assert first["measured"] == {"measured": 12, "changed": 0, "unreadable": 0}
    assert ok_json(capsys, "audit", "-c", str(directory), "-q")["measured"]["measured"] == 0  # kept
