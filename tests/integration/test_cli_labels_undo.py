"""Issue 9 "Done when", through the CLI: a cluster holding hand-labelled photos is named something else, then its
name is removed — the hand labels are unchanged; `label --undo` walks back one action per call (real photos, real
model collection; in-process through `revsearch.cli.main`, and once as a real process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from revsearch.cli import main

REPO = Path(__file__).resolve().parents[2]


def ok_json(capsys, *args: str):
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def labelled(capsys, cdir: str) -> dict[str, str]:
    """path -> label, from the JSON export (what a person would read back)."""
    out = Path(cdir) / "labels.json"
    ok_json(capsys, "export", "-c", cdir, "--format", "json", "--out", str(out), "--labelled-only", "--force")
    return {row["path"]: row["label"] for row in json.loads(out.read_text(encoding="utf-8"))["images"]}


@pytest.fixture
def cdir(fresh_collection) -> str:
    directory = str(fresh_collection.directory)
    fresh_collection.close()
    return directory


def test_naming_and_unnaming_a_cluster_keeps_hand_labels_and_undo_walks_back(capsys, cdir):
    data = ok_json(capsys, "cluster", "-c", cdir, "-k", "4", "-q")
    cluster = data["clusters"][0]
    members = cluster["members"]
    hand = members[:3]
    ok_json(capsys, "label", "-c", cdir, "--image", *hand[:2], "--name", "my dress")
    ok_json(capsys, "label", "-c", cdir, "--image", hand[2], "--name", "my hat")
    hand_labels = labelled(capsys, cdir)
    assert hand_labels == {hand[0]: "my dress", hand[1]: "my dress", hand[2]: "my hat"}

    named = ok_json(capsys, "label", "-c", cdir, "--cluster", str(cluster["id"]), "--name", "tops")
    assert named["changed"] == len(members) - 3  # every member but the hand-labelled ones
    after_naming = labelled(capsys, cdir)
    assert {p: after_naming[p] for p in hand} == hand_labels
    assert {after_naming[p] for p in members[3:]} == {"tops"}

    removed = ok_json(capsys, "label", "-c", cdir, "--cluster", str(cluster["id"]), "--remove")
    assert removed["changed"] == len(members) - 3
    assert labelled(capsys, cdir) == hand_labels  # hand labels unchanged, the cluster's labels gone

    listed = ok_json(capsys, "label", "-c", cdir, "--list")
    assert listed["undo"]["description"] == f"removed the name 'tops' of cluster {cluster['id']} " \
                                            f"({len(members) - 3} images)"

    first = ok_json(capsys, "label", "-c", cdir, "--undo")  # back to the named cluster
    assert first["undone"]["kind"] == "name_cluster" and first["restored"] == len(members) - 3
    assert first["changed"] == first["restored"] and first["skipped"] == [] and first["clusters_restored"] == 1
    assert first["action"].startswith("undid: removed the name 'tops'")
    assert first["next"]["description"].startswith(f"named cluster {cluster['id']} 'tops'")
    assert labelled(capsys, cdir) == after_naming

    proc = subprocess.run([sys.executable, "-m", "revsearch", "label", "-c", cdir, "--undo", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    second = json.loads(proc.stdout)  # back to before the cluster was named
    assert second["undone"]["description"].startswith(f"named cluster {cluster['id']} 'tops'")
    assert second["next"]["description"] == "labelled 1 image 'my hat'"
    assert labelled(capsys, cdir) == hand_labels
    assert ok_json(capsys, "cluster", "-c", cdir)["clusters"][0]["name"] is None

    ok_json(capsys, "label", "-c", cdir, "--undo")
    last = ok_json(capsys, "label", "-c", cdir, "--undo")
    assert last["next"] is None and labelled(capsys, cdir) == {}
    code = main(["label", "-c", cdir, "--undo"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and err == ["revsearch: error: nothing to undo: no labelling action left"]
    history = ok_json(capsys, "label", "-c", cdir, "--list")["history"]
    newest = history[0]  # (--list shows the 20 newest entries)
    assert (newest["kind"], newest["event"], newest["old"]) == ("action", "undone", "labelled 2 images 'my dress'")
