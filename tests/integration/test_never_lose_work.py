"""Issue 9 through the CLI, as a person runs it: labels survive an unplugged folder, a moved subfolder, a kill -9 of
`index`, and other processes labelling and searching while `index` runs. Real model, real files, real processes."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from revsearch.collection import Collection, label_store
from tests.integration.conftest import dataset_rows

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> dict | list:
    proc = subprocess.run([sys.executable, "-m", "revsearch", *args, "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout)


def photos_in(folder: Path, n: int, subfolders: int = 2, start: int = 0) -> list[Path]:
    """`n` real photos (from the `start`-th) copied into `subfolders` subfolders of `folder`."""
    out = []
    for i, (path, _) in enumerate(sorted(dataset_rows())[start : start + n]):
        target = folder / f"part{i % subfolders}" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        out.append(target.resolve())
    return out


def labels_by_name(coll_dir: Path) -> dict[str, str]:
    """file name -> label (names are unique in the dataset, so this survives moves)."""
    with Collection.open(coll_dir) as coll:
        return {Path(r.path).name: r.label for r in label_store.label_rows(coll)}


def counts(coll_dir: Path) -> dict[str, int]:
    return cli("info", "--collection", str(coll_dir))["counts"]


def test_unplugged_folder_is_missing_not_deleted_and_comes_back_as_it_was(tmp_path):
    photos, keep, coll = tmp_path / "photos", tmp_path / "keep", tmp_path / "coll"
    files = photos_in(photos, 20)
    kept = photos_in(keep, 4, subfolders=1, start=20)
    cli("index", str(photos), "--collection", str(coll), "-q")
    cli("index", str(keep), "--collection", str(coll), "-q")
    cli("label", "--image", *map(str, files[:6]), "--name", "shirt", "--collection", str(coll))
    cli("label", "--image", *map(str, files[6:9]), "--name", "shoe", "--collection", str(coll))
    before = labels_by_name(coll)
    assert len(before) == 9

    photos.rename(tmp_path / "unplugged")  # the drive is unplugged: its mount folder is empty
    photos.mkdir()
    out = cli("index", str(photos), "--collection", str(coll), "-q")
    assert (out["missing"], out["removed"], out["indexed"]) == (20, 0, 0)
    assert out["warnings"] == [f"{photos.resolve()} is empty or unreadable: 20 files marked missing, nothing deleted"]
    assert counts(coll) == {"indexed": 4, "skipped": 0, "duplicate": 0, "missing": 20}
    query = tmp_path / "unplugged" / files[0].relative_to(photos.resolve())
    hits = cli("search", str(query), "--collection", str(coll), "-k", "10")[0]["results"]
    assert {h["path"] for h in hits} == {str(p) for p in kept}  # none of the missing photos
    assert cli("index", str(photos), "--collection", str(coll), "-q", "--prune")["removed"] == 0  # looks unplugged
    assert labels_by_name(coll) == before

    photos.rmdir()
    (tmp_path / "unplugged").rename(photos)  # plugged in again
    out = cli("index", str(photos), "--collection", str(coll), "-q")
    assert (out["indexed"], out["updated"], out["restored"], out["missing"]) == (0, 0, 20, 0)
    assert labels_by_name(coll) == before
    assert counts(coll) == {"indexed": 24, "skipped": 0, "duplicate": 0, "missing": 0}
    hits = cli("search", str(files[0]), "--collection", str(coll), "-k", "1")[0]["results"]
    assert hits[0]["path"] == str(files[0])


def test_moved_subfolder_keeps_labels_unembedded_and_prune_removes_deleted_files(tmp_path):
    photos, coll = tmp_path / "photos", tmp_path / "coll"
    files = photos_in(photos, 16)
    cli("index", str(photos), "--collection", str(coll), "-q")
    part0 = [p for p in files if p.parent.name == "part0"]
    cli("label", "--image", *map(str, part0), "--name", "dress", "--collection", str(coll))
    before = labels_by_name(coll)
    with Collection.open(coll) as c:
        ids = {Path(r.path).name: r.id for r in c.rows()}

    (photos / "deeper").mkdir()
    (photos / "part0").rename(photos / "deeper" / "renamed")
    out = cli("index", str(photos), "--collection", str(coll), "-q")
    assert (out["indexed"], out["updated"], out["missing"], out["moved"]) == (0, 0, 0, len(part0))
    assert {(Path(m["from"]).parent.name, Path(m["to"]).parent.name) for m in out["moves"]} == {("part0", "renamed")}
    assert labels_by_name(coll) == before
    with Collection.open(coll) as c:
        assert {Path(r.path).name: r.id for r in c.rows()} == ids  # same rows, same ids

    gone = sorted((photos / "deeper" / "renamed").iterdir())[:2]
    for path in gone:
        path.unlink()
    out = cli("index", str(photos), "--collection", str(coll), "-q", "--prune")
    assert (out["missing"], out["removed"]) == (2, 2)
    assert counts(coll) == {"indexed": 14, "skipped": 0, "duplicate": 0, "missing": 0}
    assert labels_by_name(coll) == {k: v for k, v in before.items() if k not in {p.name for p in gone}}


def test_index_1000_photos_while_three_processes_label_and_search(tmp_path):
    """Every command exits 0, every label written meanwhile is kept, the counts are right at the end."""
    rows = sorted(dataset_rows())
    photos, coll = tmp_path / "photos", tmp_path / "coll"
    photos.mkdir()
    for path, _ in rows[:30]:  # the workers' images are indexed before the big run starts
        shutil.copy2(path, photos / path.name)
    cli("index", str(photos), "--collection", str(coll), "-q")
    seed = sorted(str(p.resolve()) for p in photos.iterdir())
    for path, _ in rows[30:]:
        shutil.copy2(path, photos / path.name)
    for path, _ in rows[: 1000 - len(rows)]:  # distinct content: resized, re-encoded copies
        with Image.open(path) as im:
            im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4)).save(
                photos / f"variant-{path.stem}.jpg", quality=85)

    index = subprocess.Popen([sys.executable, "-m", "revsearch", "index", str(photos), "--collection", str(coll),
                              "--json", "-q"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    script = ("import json, subprocess, sys\n"
              "for cmd in json.loads(sys.argv[1]):\n"
              "    p = subprocess.run([sys.executable, '-m', 'revsearch', *cmd], capture_output=True, text=True)\n"
              "    if p.returncode:\n"
              "        sys.exit(f'{cmd[0]} exited {p.returncode}: {p.stderr}')\n")
    workers, expected = [], {}
    for w in range(3):
        steps = []
        for n in range(10):
            image = seed[w * 10 + n]
            expected[Path(image).name] = f"w{w}-{n}"
            steps += [["label", "--image", image, "--name", f"w{w}-{n}", "--collection", str(coll), "--json"],
                      ["search", image, "--collection", str(coll), "-k", "3", "--json"]]
        workers.append(subprocess.Popen([sys.executable, "-c", script, json.dumps(steps)], cwd=REPO,
                                        stderr=subprocess.PIPE, text=True))
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    out, err = index.communicate(timeout=600)
    assert index.returncode == 0, err
    report = json.loads(out)
    assert (report["unchanged"], report["indexed"] + len(report["duplicates"]), report["missing"]) == (30, 970, 0)
    got = labels_by_name(coll)
    assert {name: got.get(name) for name in expected} == expected  # no label lost
    total = counts(coll)
    assert (total["indexed"], total["duplicate"], total["missing"]) == (1000 - total["duplicate"],
                                                                         len(report["duplicates"]), 0)


def _committed(catalog: Path) -> int:
    """Rows committed so far (each batch commits its rows and vectors together)."""
    conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    finally:
        conn.close()


def _consistent(catalog: Path) -> None:
    conn = sqlite3.connect(catalog, timeout=30)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT COUNT(*) FROM images i LEFT JOIN vectors v ON v.image_id = i.id "
                            "WHERE i.status = 'indexed' AND i.missing_since IS NULL AND v.image_id IS NULL"
                            ).fetchone()[0] == 0  # every indexed row has its vector
        assert conn.execute("SELECT COUNT(*) FROM vectors v JOIN images i ON i.id = v.image_id "
                            "WHERE i.status != 'indexed'").fetchone()[0] == 0  # no vector without an indexed row
    finally:
        conn.close()


def test_kill_9_of_index_leaves_a_consistent_catalog_and_a_rerun_embeds_the_rest(tmp_path):
    photos, coll = tmp_path / "photos", tmp_path / "coll"
    photos_in(photos, 72, subfolders=1)
    labelled = photos_in(tmp_path / "labelled", 4, subfolders=1, start=100)
    cli("index", str(tmp_path / "labelled"), "--collection", str(coll), "-q")
    cli("label", "--image", *map(str, labelled), "--name", "kept", "--collection", str(coll))
    catalog = coll / "catalog.sqlite"
    done = _committed(catalog)
    for batches in (1, 3, 5):
        proc = subprocess.Popen([sys.executable, "-m", "revsearch", "index", str(photos), "--collection", str(coll),
                                 "--batch-size", "4", "-q", "--json"], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while _committed(catalog) < done + 4 * batches and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _consistent(catalog)
        done = _committed(catalog)
        assert labels_by_name(coll) == {p.name: "kept" for p in labelled}
    assert 4 + 4 * 5 <= done < 4 + 72  # killed mid-run, after committed batches
    out = cli("index", str(photos), "--collection", str(coll), "-q")
    assert out["indexed"] + len(out["duplicates"]) == 72 + 4 - done  # exactly the remainder, nothing twice
    assert out["unchanged"] == done - 4
    _consistent(catalog)
    total = counts(coll)
    assert total["indexed"] + total["duplicate"] == 76 and total["missing"] == 0
