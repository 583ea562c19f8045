"""Issue 16, splits and exports, through the real CLI on real photos (clothing-small, 12 per class, the real model):
planted near-copies (resized and re-encoded, cropped) and exact copies never straddle a split; splits stay put as the
collection grows; exports carry the split (CSV/JSON column, ImageFolder `<split>/<label>/`) and the dataset card;
excluded images leave every export and come back with --include / --undo."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from tests.integration.conftest import error_line, ok_json, run, subset

REPO = Path(__file__).resolve().parents[2]


def resized(src: Path, out: Path) -> Path:
    """A copy at 60 % of the size, re-encoded at JPEG quality 60."""
    with Image.open(src) as im:
        im.convert("RGB").resize((im.width * 3 // 5, im.height * 3 // 5)).save(out, quality=60)
    return out


def cropped(src: Path, out: Path) -> Path:
    """The central 94 % of the photo, re-encoded."""
    with Image.open(src) as im:
        w, h = im.size
        im.convert("RGB").crop((w * 3 // 100, h * 3 // 100, w * 97 // 100, h * 97 // 100)).save(out, quality=85)
    return out


@pytest.fixture
def cdir(fresh_collection, clothing_folder) -> str:
    """The 120-photo collection, labelled by its class folders."""
    directory = str(fresh_collection.directory)
    fresh_collection.close()
    return directory


def exported_splits(capsys, cdir: str, out: Path) -> dict[str, str]:
    """path -> split, from the CSV export (what a training script would read)."""
    ok_json(capsys, "export", "-c", cdir, "--format", "csv", "--out", str(out), "--force")
    with open(out, newline="", encoding="utf-8") as fh:
        return {r["path"]: r["split"] for r in csv.DictReader(fh)}


def test_planted_copies_share_a_split_that_stays_as_the_collection_grows(capsys, cdir, clothing_folder, tmp_path):
    root = clothing_folder[0]
    ok_json(capsys, "label", "-c", cdir, "--from-folders", str(root))
    photos = sorted(root.rglob("*.jpg"))
    planted = tmp_path / "planted"
    planted.mkdir()
    twins = {}  # copy -> original
    for k, src in enumerate(photos[::12][:5]):  # one photo of each of five classes
        twins[resized(src, planted / f"small{k}.jpg")] = src
        twins[cropped(src, planted / f"crop{k}.jpg")] = src
    for k, src in enumerate(photos[5::24][:3]):
        twins[Path(shutil.copy2(src, planted / f"same{k}.jpg"))] = src
    ok_json(capsys, "index", str(planted), "-c", cdir, "-q")

    made = ok_json(capsys, "split", "-c", cdir, "--ratios", "60,20,20", "--seed", "7", "-q")
    assert made["leaks"]["total"] == 0 and made["assigned"] == 120 + len(twins) and made["resplit"]
    assert made["groups"]["kept_together"] >= 8  # every planted copy found its original
    assert set(made["per_class"]) == {p.name for p in root.iterdir()}
    assert made["max_deviation"] < 8.4  # 12 photos a class: one photo is 8.3 points
    where = exported_splits(capsys, cdir, tmp_path / "one.csv")
    for copy, original in twins.items():
        assert where[str(copy.resolve())] == where[str(original.resolve())], copy.name

    # the collection grows: 10 new photos and two more near-copies of earlier photos
    more = tmp_path / "more"
    more.mkdir()
    for path, _ in subset(13)[12::13]:
        shutil.copy2(path, more / path.name)
    late = {resized(photos[40], more / "late-small.jpg"): photos[40], cropped(photos[90], more / "late-crop.jpg"):
            photos[90]}
    ok_json(capsys, "index", str(more), "-c", cdir, "-q")
    grown = ok_json(capsys, "split", "-c", cdir, "-q")
    assert (grown["assigned"], grown["kept"], grown["resplit"]) == (12, 120 + len(twins), False)
    assert grown["leaks"]["total"] == 0
    after = exported_splits(capsys, cdir, tmp_path / "two.csv")
    assert {p: after[p] for p in where} == where  # every earlier image kept its split
    for copy, original in late.items():
        assert after[str(copy.resolve())] == where[str(original.resolve())]

    assert "--resplit" in error_line(capsys, "split", "-c", cdir, "--ratios", "70,15,15", "-q")
    # a real process, re-splitting everything at other ratios
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "revsearch", "split", "-c", cdir, "--ratios", "70,30", "--resplit",
                           "--json", "-q"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["names"] == ["train", "test"] and again["assigned"] == 132 + len(twins)
    assert again["leaks"]["total"] == 0


def test_exports_carry_the_split_and_the_card_and_leave_excluded_images_out(capsys, cdir, clothing_folder, tmp_path):
    root = clothing_folder[0]
    ok_json(capsys, "label", "-c", cdir, "--from-folders", str(root))
    junk = sorted(root.rglob("*.jpg"))[3]
    assert ok_json(capsys, "exclude", "-c", cdir, str(junk), "--reason", "blurry")["changed"] == 1
    made = ok_json(capsys, "split", "-c", cdir, "-q")
    assert made["total"] == 119 and made["excluded"] == 1 and made["leaks"]["total"] == 0

    rep = ok_json(capsys, "export", "-c", cdir, "--format", "csv", "--out", str(tmp_path / "labels.csv"))
    assert rep["excluded"] == 1 and rep["written"] == 119
    with open(tmp_path / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-2:] == ["split", "labelled_by"] and {r["split"] for r in rows} == {"train", "val", "test"}
    assert str(junk.resolve()) not in {r["path"] for r in rows}
    card = json.loads((tmp_path / "labels.csv.dataset.json").read_text(encoding="utf-8"))
    assert card["schema_version"] == 1 and card["format"] == "csv"
    per = Counter((r["label"], r["split"]) for r in rows)
    assert {(label, s): n for label, c in card["counts"]["per_class"].items() for s, n in c.items() if s != "total"
            } == dict(per)
    assert card["counts"]["per_split"] == made["splits"] and card["label_sources"] == {"import": 119}
    assert card["excluded"]["by_reason"] == {"blurry": 1} and card["excluded"]["list"][0]["path"] == str(junk.resolve())
    assert card["splits"]["ratios"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    leak = card["audit"]["leak_check"]
    assert leak["groups_across_splits"] == leak["same_content_across_splits"] == 0 and leak["near_copy_pairs"] == 0
    readme = (tmp_path / "labels.csv.README.md").read_text(encoding="utf-8")
    assert "| class | train | val | test | total |" in readme and "blurry" in readme

    out = tmp_path / "imagefolder"
    ok_json(capsys, "export", "-c", cdir, "--format", "imagefolder", "--out", str(out), "-q")
    files = [p.relative_to(out) for p in out.rglob("*.jpg")]
    assert len(files) == 119 and all(len(p.parts) == 3 for p in files)  # <split>/<label>/<file>
    assert Counter((p.parts[1], p.parts[0]) for p in files) == per
    assert (out / "README.md").is_file() and json.loads((out / "dataset.json").read_text())["layout"] == \
        "split/label/file"

    data = ok_json(capsys, "export", "-c", cdir, "--format", "json", "--out", str(tmp_path / "labels.json"))
    images = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert data["written"] == 119 and images["splits"] == made["splits"] and images["card"]["excluded"]["images"] == 1
    assert (tmp_path / "labels.json.README.md").is_file()
    code, _, err = run(capsys, "export", "-c", cdir, "--format", "csv", "--out", str(tmp_path / "labels.csv"))
    assert code != 0 and "exists" in err  # the CSV, and its card, are never replaced silently

    listed = ok_json(capsys, "exclude", "-c", cdir, "--list")
    assert [e["reason"] for e in listed["excluded"]] == ["blurry"] and listed["undo"]["kind"] == "exclude"
    assert ok_json(capsys, "exclude", "-c", cdir, "--undo")["restored"] == 1
    back = ok_json(capsys, "export", "-c", cdir, "--format", "csv", "--out", str(tmp_path / "labels.csv"), "--force")
    assert back["written"] == 120 and back["split_assigned"] == 1  # taken back: it got a split before the export
    ok_json(capsys, "exclude", "-c", cdir, str(junk), "--reason", "blurry")
    assert ok_json(capsys, "exclude", "-c", cdir, str(junk), "--include")["excluded"] == 0
    assert "--reason" in error_line(capsys, "exclude", "-c", cdir, str(junk))
