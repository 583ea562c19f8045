#!/usr/bin/env python3
"""Issue 18 in numbers: how long a labelling click takes to answer in the browser at ~1,000 images, before and after
(the recomputation moved into background jobs), and how right the indexing ETA is, before and after (the measured
throughput of the run after warm-up instead of a first-batch guess).

    .venv/bin/python benchmarks/jobs.py --out BENCHMARKS.md [--n 1000] [--photos DIR] [--baseline REV] [--rounds 3]

1. A folder of N photos: every photo of --photos (default clothing-small), then mirrored, cropped and recoloured
   copies of them up to N (so near-duplicates of a kind the data set already has, not exact copies).
2. ETA: the folder is indexed into a fresh collection as the app does it (model load, embedding, thumbnails, clusters,
   map: revsearch.indexing.adding.add_images), in this process. Every progress report feeds two clocks: the app's RunClock
   (revsearch/jobs/clock.py) and the one of the baseline checkout (ui/progress_text.py at --baseline), and both are
   asked for the time left four times a second. Their predictions are compared with the time that really was left at
   10 %, 25 %, 50 %, 75 % and 90 % of the run.
3. Clicks: the folder is indexed again by the baseline's code (a catalog both apps open; the newer one migrates its
   copy), then `tests/e2e/measure_clicks.py` serves a fresh copy of that data directory with the baseline's app
   (a `git archive` of --baseline), then with this checkout's, --repeats times in turn, in headless Chromium, and
   times from the click to the end of the script run it started with its result shown: naming a cluster, confirming
   a Label-next page, labelling a map selection, undo (and opening Clusters, Label next and Map once each).

Writes the `jobs` section of --out. The machine is shared: the load average while it ran is reported. Not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchsuite import stages  # noqa: E402
from benchsuite.inputs import DEFAULT_DATASET  # noqa: E402
from benchsuite.sections import write_section  # noqa: E402

MARKS = (0.10, 0.25, 0.50, 0.75, 0.90)
ACTIONS = ("name a cluster", "confirm a Label-next page", "label a map selection", "undo", "open Clusters",
           "open Label next", "open Map")


def make_folder(photos: Path, n: int, out: Path) -> int:
    """Every photo of `photos`, then edited copies of them, up to n, under `out` (kept in their class folders)."""
    from PIL import Image, ImageEnhance, ImageOps

    found = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    made = 0
    for p in found[:n]:
        target = out / p.parent.name / p.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
        made += 1
    for p in found[: max(0, n - made)]:
        with Image.open(p) as im:
            img = ImageOps.mirror(im.convert("RGB"))
            w, h = img.size
            img = ImageEnhance.Color(img.crop((w // 12, h // 16, w - w // 16, h - h // 25))).enhance(0.8)
            img.save(out / p.parent.name / f"variant-{p.stem}.jpg", quality=88)
        made += 1
    return made


def old_clock_class(rev: str) -> type:
    """The baseline's RunClock (ui/progress_text.py at `rev`), loaded from git without checking it out."""
    source = subprocess.run(["git", "show", f"{rev}:ui/progress_text.py"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    for moved, now in (("from revsearch.adding import", "from revsearch.indexing.adding import"),
                       ("from revsearch.collection import IndexReport", "from revsearch.indexing import IndexReport")):
        source = source.replace(moved, now)  # where those names live since (the clock itself is as it was)
    module = types.ModuleType("baseline_progress_text")
    exec(compile(source, f"{rev}:ui/progress_text.py", "exec"), module.__dict__)  # our own repository's history
    return module.RunClock


def measure_eta(folder: Path, data: Path, rev: str) -> dict:
    """Index `folder` into a new collection of the data directory `data`; the two clocks' predictions over time."""
    from revsearch.workspace import add_local_folder
    from revsearch.embed import default_model
    from revsearch.embed.embedder import Embedder
    from revsearch.jobs import MODEL, RunClock
    from revsearch.workspace import Workspace

    ws = Workspace(data)
    ws.ensure_root()
    (data / "workspace.json").write_text(json.dumps({"demo_built": True}))
    model = default_model()[0]
    new, old = RunClock(), old_clock_class(rev)()
    lock = threading.Lock()
    samples: list[tuple[float, float | None, float | None]] = []  # (elapsed, new says left, old says left)
    last = {"done": 0, "total": 0}
    started = time.perf_counter()

    def progress(done: int, total: int, _message: str = "") -> None:
        with lock:
            new.observe(done, total)
            last.update(done=done, total=total)

    def phases(name: str):
        with lock:
            new.start(name)
            old.start(name)
            last.update(done=0, total=0)
        return progress

    def sample() -> None:
        with lock:
            samples.append((time.perf_counter() - started, new.remaining(), old.remaining(last["done"],
                                                                                           last["total"])))

    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(0.25):
            sample()

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    phases(MODEL)
    embedder = Embedder(model)
    info = ws.create("Photos", embedder)
    new.configure(0, embedder.input_mode, embedder.precision)
    added = add_local_folder(ws, info.slug, folder, embedder, phases)
    stop.set()
    thread.join()
    total = time.perf_counter() - started
    with lock:
        new.finish()
    rows = []
    for mark in MARKS:
        at = mark * total
        before = [s for s in samples if s[0] <= at]
        _, new_left, old_left = before[-1] if before else (0, None, None)
        rows.append({"mark": mark, "actual": total - at, "new": new_left, "old": old_left})
    first = next((s[0] for s in samples if s[1] is not None), None)
    return {"seconds": total, "images": added.report.indexed, "rows": rows, "first_estimate_s": first,
            "phases": {k: round(v, 2) for k, v in new.durations.items()}, "rate": added.report.throughput,
            "speed": round(new.speed, 3)}


def stage_server(args: argparse.Namespace) -> dict:
    """The same clicks in Streamlit's AppTest (the app of --app-root, no browser): the server's side of each click,
    one after the other like a person, without waiting for background work between them."""
    sys.path.insert(0, str(args.app_root))  # its revsearch and ui, not this checkout's
    os.environ.update(REVSEARCH_DATA=str(args.data), REVSEARCH_DEMO="off")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(args.app_root / "app.py"), default_timeout=600)
    at.run()
    times: dict[str, list[float]] = {}

    def timed(name: str) -> None:
        started = time.perf_counter()
        at.run()
        times.setdefault(name, []).append(time.perf_counter() - started)
        if at.exception:
            raise SystemExit(f"{name}: {at.exception[0].message}")

    def button(label: str, n: int = 0):
        return [b for b in at.button if b.label.startswith(label)][n]

    at.switch_page("app_pages/clusters.py")
    timed("open Clusters")
    for n in range(args.rounds):
        key = next(t.key for t in at.text_input if (t.key or "").startswith(f"name_input_{n}_"))
        at.text_input(key=key).input(f"bench-{n}")
        button("Name & label", n).click()
        timed("name a cluster")
    button("Undo:").click()
    timed("undo")
    at.switch_page("app_pages/label_next.py")
    timed("open Label next")
    for _ in range(args.rounds):
        next(s for s in at.selectbox if (s.key or "").startswith("fix_")).set_value("bench-0")
        at.run()
        button("Confirm this page").click()
        timed("confirm a Label-next page")
    at.switch_page("app_pages/map.py" if (args.app_root / "app_pages" / "map.py").exists() else "app_pages/explore.py")
    timed("open Map")
    for n in range(args.rounds):
        slug, rows = _rows(args.data)
        picked = [r.id for r in rows[n * 100:(n + 1) * 100]]
        at.session_state["map_selection"] = {"slug": slug, "ids": picked, "seen": [], "round": n}
        at.run()
        at.text_input(key="selection_label").input(f"picked-{n}")
        button("Label selection").click()
        timed("label a map selection")
        button("Undo:").click()
        timed("undo")
    return {k: {"median_s": statistics.median(v), "max_s": max(v), "n": len(v), "times": v} for k, v in times.items()}


def _rows(data: Path) -> tuple[str, list]:
    """The slug of the data directory's one collection, and its indexed rows."""
    from revsearch.collection import Collection

    directory = next((data / "collections").iterdir())
    with Collection.open(directory) as coll:
        return directory.name, coll.rows("indexed")


def baseline_checkout(rev: str, into: Path) -> Path:
    """The app as it was at `rev` (a `git archive`, nothing checked out here)."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


BUILD = """
import json, sys
from pathlib import Path
from revsearch.embed import default_model
from revsearch.embed.embedder import Embedder
from revsearch.workspace import Workspace
try:
    from revsearch.workspace import add_local_folder
except ImportError:  # older checkouts kept it in revsearch.adding
    from revsearch.adding import add_local_folder
folder, data = Path(sys.argv[1]), Path(sys.argv[2])
ws = Workspace(data)
ws.ensure_root()
(data / "workspace.json").write_text(json.dumps({"demo_built": True}))
embedder = Embedder(default_model()[0])
add_local_folder(ws, ws.create("Photos", embedder).slug, folder, embedder)
"""


def build_with(app_root: Path, folder: Path, data: Path) -> None:
    """The data directory the clicks are measured on, indexed (and clustered, mapped) by the baseline's code: a
    catalog the older app can open, which the newer one migrates on its copy."""
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run([sys.executable, "-c", BUILD, str(folder), str(data)], cwd=app_root, check=True,
                   env={**os.environ, "PYTHONPATH": str(app_root)}, capture_output=True)


def measure_clicks(app_root: Path, data: Path, rounds: int, log: Path) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "e2e" / "measure_clicks.py"), "--data", str(data),
                          "--rounds", str(rounds), "--app-root", str(app_root), "--log", str(log)],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    sys.stderr.write(out.stderr[-3000:])
    if out.returncode:
        raise SystemExit(f"measuring the clicks with {app_root} failed (server log: {log})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(n: int, rev: str, eta: dict, browser: dict, server: dict, load: tuple[float, float], took: float) -> str:
    def cell(row: dict | None) -> str:
        return f"{row['median_s']:.2f} s (max {row['max_s']:.2f}, {row['n']}×)" if row else "—"

    def table(times: dict) -> list[str]:
        return ["| action | before | after |", "|---|---|---|",
                *(f"| {a} | {cell(times['before'].get(a))} | {cell(times['after'].get(a))} |" for a in ACTIONS)]

    def left(value: float | None, actual: float) -> str:
        return "estimating…" if value is None else f"{value:.0f} s ({value / actual:.1f}×)" if actual > 0 else "—"

    lines = [f"## Background jobs: click-to-result and the indexing ETA at {n:,} images (issue 18)", "",
             f"Measured by `benchmarks/jobs.py` on {time.strftime('%Y-%m-%d %H:%M')} ({took / 60:.0f} min), "
             f"{os.cpu_count()} cores shared with other engineers' work (load average {load[0]:.1f} at the start, "
             f"{load[1]:.1f} at the end). Photos: {n:,} (clothing-small and edited copies of it up to {n:,}). "
             f"**Before** is the app at `{rev}`, **after** this checkout; each served a fresh copy of the same data "
             "directory in headless Chromium, in walks that alternate before / after so both meet the same load.", "",
             "### Click to result (browser)", "",
             "From the click to the end of the script run it started, with its result visible (the named cluster's "
             "heading, the next Label-next round, the emptied map selection, the undo message). Median of the "
             "rounds (max in brackets).", "",
             *table(browser)]
    lines += ["", "### The server's side of a click (AppTest, no browser)", "",
              "The same clicks in Streamlit's AppTest, one after the other without waiting for background work: "
              "what the server spends before the page is ready to send (the browser's drawing is not in it). "
              "Median (max).", "", *table(server)]
    lines += ["", "### Indexing ETA: what the progress bar says is left, against what was left", "",
              f"Indexing {eta['images']:,} photos into a new collection as the app does (model load, embedding at "
              f"{eta['rate']:.1f} images/s, then thumbnails, clusters and the first map) took {eta['seconds']:.0f} s "
              f"({', '.join(f'{k} {v:.1f} s' for k, v in eta['phases'].items())}). The clock of this checkout gave "
              f"its first estimate {eta['first_estimate_s']:.0f} s into the run (after the model and the warm-up "
              "batches). Time left said at each point of the run (ratio to the truth in brackets):", "",
              "| point of the run | really left | before says | after says |", "|---|---|---|---|"]
    for row in eta["rows"]:
        lines.append(f"| {row['mark']:.0%} | {row['actual']:.0f} s | {left(row['old'], row['actual'])} | "
                     f"{left(row['new'], row['actual'])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="write the `jobs` section of this report (e.g. BENCHMARKS.md)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--photos", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--baseline", default="33f61b8", help="the commit the numbers are compared with")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2,
                   help="walks per app, alternating before / after so both see the same load (default 2)")
    p.add_argument("--work", type=Path, help="keep the folder, data and logs here (default: a temporary folder)")
    p.add_argument("--eta-only", action="store_true", help="measure the ETA only (no browser), print, write nothing")
    p.add_argument("--large", type=Path, metavar="DATA",
                   help="only the server's side of the clicks, with this checkout, on the one collection of the data "
                        "directory DATA (e.g. made by synthetic_collection.py); writes the `jobs-large` section")
    p.add_argument("--app-root", type=Path, help=argparse.SUPPRESS)  # the server stage's app
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    stages.add_stage_argument(p, STAGES)
    args = p.parse_args()
    if stages.run_if_child(args, STAGES):
        return 0
    started, load = time.perf_counter(), os.getloadavg()[0]
    if args.large:
        return large(args, load)
    work = args.work or Path(tempfile.mkdtemp(prefix="revsearch-jobs-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "photos"
    if not folder.exists():
        print(f"[jobs] {make_folder(args.photos, args.n, folder)} photos in {folder}", file=sys.stderr, flush=True)
    shutil.rmtree(work / "data", ignore_errors=True)
    eta = measure_eta(folder, work / "data", args.baseline)
    print(f"[jobs] indexed in {eta['seconds']:.0f} s: {json.dumps(eta)}", file=sys.stderr, flush=True)
    if args.eta_only:
        return 0
    base = baseline_checkout(args.baseline, work / "baseline")
    build_with(base, folder, work / "data-clicks")
    times: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for repeat in range(args.repeats):
        for name, app_root in (("before", base), ("after", ROOT)):
            data = work / f"data-{name}"
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(work / "data-clicks", data)
            found = measure_clicks(app_root, data, args.rounds, work / f"server-{name}-{repeat}.log")
            for action, row in found.items():
                times[name].setdefault(action, []).extend(row["times"])
            print(f"[jobs] {name} #{repeat + 1}: {json.dumps(found)}", file=sys.stderr, flush=True)
    results = {name: {a: {"median_s": statistics.median(v), "max_s": max(v), "n": len(v)} for a, v in found.items()}
               for name, found in times.items()}
    server = {}
    for name, app_root in (("before", base), ("after", ROOT)):
        data = work / f"data-{name}"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(work / "data-clicks", data)
        server[name] = stages.run_child(__file__, "server", ["--app-root", str(app_root), "--data", str(data),
                                                             "--rounds", str(args.rounds)], "jobs", cwd=app_root)
        print(f"[jobs] server side, {name}: {json.dumps(server[name])}", file=sys.stderr, flush=True)
    text = render(eta["images"], args.baseline, eta, results, server, (load, os.getloadavg()[0]),
                  time.perf_counter() - started)
    print(text)
    if args.out:
        write_section(args.out, "jobs", text)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def large(args: argparse.Namespace, load: float) -> int:
    """The server's side of each click on a large collection (its labels and cluster names change: use a copy)."""
    started = time.perf_counter()
    slug, rows = _rows(args.large)
    found = stages.run_child(__file__, "server", ["--app-root", str(ROOT), "--data", str(args.large),
                                                  "--rounds", str(args.rounds)], "jobs", cwd=ROOT)
    lines = [f"## Background jobs: the server's side of a click at {len(rows):,} images (issue 18)", "",
             f"Measured by `benchmarks/jobs.py --large` on {time.strftime('%Y-%m-%d %H:%M')} "
             f"({(time.perf_counter() - started) / 60:.0f} min; load average {load:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end) on the collection `{slug}` (synthetic vectors with real JPEG "
             "paths, `benchmarks/synthetic_collection.py`), in Streamlit's AppTest as in the section above: one "
             "click after the other, without waiting for the background work they start (at this size a retrain "
             "takes about 20 s, and the next clicks share the 2 cores with it). Median (max).", "",
             "| action | this checkout |", "|---|---|"]
    lines += [f"| {a} | {found[a]['median_s']:.2f} s (max {found[a]['max_s']:.2f}, {found[a]['n']}×) |"
              for a in ACTIONS if a in found]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        write_section(args.out, "jobs-large", text)
    return 0


STAGES = {"server": stage_server}

if __name__ == "__main__":
    raise SystemExit(main())
