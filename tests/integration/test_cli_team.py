"""Issue 20 through the CLI: `revsearch users …` (a real process, password on stdin) and who did what: `label --as`
lands in exports' `labelled_by` (CSV and JSON), the history names each person, undo takes back one's own action,
and two people labelling one image both stay in its history while the later label wins (real model collection)."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from revsearch import attribution, labels
from revsearch.auth.users import USERS_FILE, os_user
from revsearch.cli import main
from revsearch.collection import Collection
from revsearch.errors import RevsearchError

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str = "", data: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if data is not None:
        env["REVSEARCH_DATA"] = str(data)
    return subprocess.run([sys.executable, "-m", "revsearch", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def ok_json(capsys, *args: str):
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_users_commands_keep_passwords_off_the_command_line_and_out_of_listings(tmp_path):
    data = tmp_path / "data"
    added = cli("users", "add", "ana", "--role", "admin", "--json", stdin="s3cret-pass\n", data=data)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["user"]["role"] == "admin"
    assert cli("users", "--data", str(data), "add", "bob", "--role", "labeller", stdin="bob-password\n").returncode == 0
    assert stat.S_IMODE((data / USERS_FILE).stat().st_mode) == 0o600
    listing = cli("users", "list", "--json", data=data)
    assert [(u["name"], u["role"]) for u in json.loads(listing.stdout)] == [("ana", "admin"), ("bob", "labeller")]
    assert "scrypt" not in listing.stdout and "hash" not in listing.stdout
    assert "s3cret-pass" not in (data / USERS_FILE).read_text()

    short = cli("users", "add", "carl", "--role", "viewer", stdin="short\n", data=data)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    empty = cli("users", "add", "carl", "--role", "viewer", data=data)
    assert empty.returncode == 2 and "no password on stdin" in empty.stderr
    assert cli("users", "add", "ana", "--role", "viewer", stdin="another-pass\n", data=data).returncode == 2

    assert cli("users", "passwd", "bob", stdin="bob-new-password\n", data=data).returncode == 0
    assert cli("users", "role", "bob", "viewer", data=data).returncode == 0
    last_admin = cli("users", "remove", "ana", data=data)
    assert last_admin.returncode == 2 and "last admin" in last_admin.stderr
    assert cli("users", "remove", "bob", data=data).returncode == 0
    assert [u["name"] for u in json.loads(cli("users", "list", "--json", data=data).stdout)] == ["ana"]


@pytest.fixture
def cdir(fresh_collection) -> str:
    directory = str(fresh_collection.directory)
    fresh_collection.close()
    return directory


def test_label_as_reaches_labelled_by_in_csv_and_json_exports_and_undo_is_per_person(capsys, cdir, tmp_path):
    paths = sorted(r.path for r in Collection.open(cdir).rows("indexed"))
    ok_json(capsys, "label", "-c", cdir, "--image", *paths[:3], "--name", "dress", "--as", "ana")
    ok_json(capsys, "label", "-c", cdir, "--image", *paths[3:5], "--name", "hat", "--as", "bob")
    ok_json(capsys, "label", "-c", cdir, "--image", paths[5], "--name", "shoe")  # nobody named: the OS user

    out_csv, out_json = tmp_path / "l.csv", tmp_path / "l.json"
    ok_json(capsys, "export", "-c", cdir, "--format", "csv", "--out", str(out_csv), "--labelled-only")
    ok_json(capsys, "export", "-c", cdir, "--format", "json", "--out", str(out_json), "--labelled-only")
    with open(out_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-1] == "labelled_by"
    by_csv = {r["path"]: (r["label"], r["labelled_by"]) for r in rows}
    by_json = {r["path"]: (r["label"], r["labelled_by"]) for r in json.loads(out_json.read_text())["images"]}
    expected = {**{p: ("dress", "ana") for p in paths[:3]}, **{p: ("hat", "bob") for p in paths[3:5]},
                paths[5]: ("shoe", os_user())}
    assert by_csv == expected and by_json == expected

    history = ok_json(capsys, "label", "-c", cdir, "--list", "--as", "ana")
    assert {h["user"] for h in history["history"]} == {"ana", "bob", os_user()}
    assert history["undo"]["user"] == "ana"  # ana's --undo would take back her own action, not the newest

    undone = ok_json(capsys, "label", "-c", cdir, "--undo", "--as", "ana")
    assert undone["undone"]["user"] == "ana" and undone["restored"] == 3
    nothing = main(["label", "-c", cdir, "--undo", "--as", "ana"])
    assert nothing == 2 and "nothing to undo" in capsys.readouterr().err
    others = ok_json(capsys, "label", "-c", cdir, "--undo", "--anyone", "--as", "admin")  # newest of anyone's
    assert others["undone"]["user"] == os_user()
    bad = main(["label", "-c", cdir, "--image", paths[0], "--name", "x", "--as", "not a name"])
    assert bad == 2 and "not a usable user name" in capsys.readouterr().err


def test_two_people_label_one_image_the_later_wins_the_history_keeps_both_and_the_first_is_told(capsys, cdir):
    path = sorted(r.path for r in Collection.open(cdir).rows("indexed"))[0]
    ok_json(capsys, "label", "-c", cdir, "--image", path, "--name", "dress", "--as", "ana")
    ok_json(capsys, "label", "-c", cdir, "--image", path, "--name", "skirt", "--as", "bob")
    with Collection.open(cdir) as coll:
        image = coll.by_path(path).id
        assert [(c.user, c.old, c.new) for c in attribution.image_history(coll, image)] == [
            ("bob", "dress", "skirt"), ("ana", None, "dress")]
        told = attribution.changed_by_others(coll, "ana")
        assert [(c.path, c.old, c.new, c.user) for c in told] == [(path, "dress", "skirt", "bob")]
        assert attribution.changed_by_others(coll, "bob") == []
        attribution.mark_seen(coll, "ana")
        assert attribution.changed_by_others(coll, "ana") == []  # told once
        bobs = labels.last_action(coll, user="bob")
        with pytest.raises(RevsearchError, match="is bob's action"):
            labels.undo(coll, bobs.id, user="ana")  # a labeller undoes her own actions only
    # ana's --undo takes back her own action, which bob's covered since: her image is left as bob made it
    assert main(["label", "-c", cdir, "--undo", "--as", "ana"]) == 0
    assert "left as they are" in capsys.readouterr().out
    with Collection.open(cdir) as coll:
        report = labels.undo(coll, bobs.id, user="admin", others=True)  # an admin may take back bob's
        assert report.restored == 1 and labels.labels(coll, [image]) == {image: "dress"}
        assert [(c.old, c.new, c.user) for c in attribution.changed_by_others(coll, "bob")] == [
            ("skirt", "dress", "admin")]  # and bob hears of it
