"""Ray local vs in-process indexing throughput on the same folder, in the same run (issue 11: ratio ≥ 0.7).

Each configuration indexes a fresh collection in its own `python -m revsearch index` process. Reported: the indexing
throughput the command itself reports (files / second of the sync, Ray start-up excluded, actor start-up included)
and the wall time of the whole command (Python + Ray start included). The table replaces the marked section of the
file given by --out (BENCHMARKS.md), or is appended to it.

    .venv/bin/python benchmarks/ray_throughput.py --images 300 --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from benchsuite.sections import write_section  # noqa: E402  (the benchmarks folder is put on the path first)

DATASET = REPO.parent / "shared" / "datasets" / "clothing-small"
CONFIGS = (
    ("in-process", []),
    ("--ray local (1 actor × 2 CPU)", ["--ray", "local"]),
    ("--ray local (2 actors × 1 CPU)", ["--ray", "local", "--actors", "2", "--cpus-per-actor", "1"]),
)


def photo_folder(root: Path, count: int) -> None:
    with open(DATASET / "labels.csv", newline="") as fh:
        paths = sorted(DATASET / r["path"] for r in csv.DictReader(fh))[:count]
    for n, path in enumerate(paths):
        shutil.copy2(path, root / f"{n:05d}{path.suffix}")


def run(folder: Path, collection: Path, extra: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "revsearch", "index", str(folder), "-c", str(collection), "--json",
                           "-q", *extra], cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    return json.loads(proc.stdout)["images_per_second"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--folder", type=Path, help="index this folder instead of a clothing-small copy")
    parser.add_argument("--out", type=Path, help="BENCHMARKS.md to write the table into")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        if args.folder:
            folder = args.folder.resolve()
        else:
            folder = Path(tmp, "photos").resolve()
            folder.mkdir()
            photo_folder(folder, args.images)
        n = sum(1 for _ in folder.rglob("*") if _.is_file())
        rows = []
        for name, extra in CONFIGS:
            ips, wall = run(folder, Path(tmp, f"c{len(rows)}"), extra)
            rows.append((name, ips, wall))
            print(f"{name:<34} {ips:7.1f} img/s  {wall:6.1f} s wall", flush=True)
    base_ips, base_wall = rows[0][1], rows[0][2]
    lines = [f"## Ray local vs in-process indexing ({n} photos, {os.cpu_count()} CPUs, "
                    f"{time.strftime('%Y-%m-%d %H:%M')})", "",
             "| configuration | img/s (sync) | × in-process | wall s (whole command) | × in-process (wall) |",
             "|---|---:|---:|---:|---:|"]
    for name, ips, wall in rows:
        lines.append(f"| {name} | {ips:.1f} | {ips / base_ips:.2f} | {wall:.1f} | {base_wall / wall:.2f} |")
    lines += ["", "Target (issue 11): `--ray local` ≥ 0.7× in-process. Sync throughput excludes Ray's own start "
                  "(~4 s) but includes starting the actors; wall time includes everything."]
    table = "\n".join(lines)
    print(table)
    if args.out:
        write_section(args.out, "ray_throughput", table)


if __name__ == "__main__":
    main()
