#!/usr/bin/env python3
"""How long each app page takes to open on a large collection (issue 11: "every app page opens in seconds" at a
million images), measured in Streamlit's AppTest (the real app script, no browser).

    .venv/bin/python benchmarks/synthetic_collection.py --n 1000000 --data /work/data/pages-1m   # once, ~20 min
    .venv/bin/python benchmarks/pages.py --collection /work/data/pages-1m/collections/synthetic --out BENCHMARKS.md

The collection must sit in a data directory's `collections/` folder (REVSEARCH_DATA = its parent's parent). Two
fresh processes, each timed from its first line:

1. the app's start (first run, landing on Search), then each page opened once (first open: caches empty) in the
   order below, then each again (re-open); Search runs a query (an uploaded JPEG, embedded by the real model). Then
   Duplicates' "Find duplicates" is clicked and the background comparison waited for.
2. a restart: a new process starts the app and opens Duplicates, which shows the kept comparison.

Thumbnails are deleted first, so a first open makes the thumbnails of what it shows; the table counts them. Peak RSS
is the process's VmHWM (model, index and caches included). The AppTest time is the server side of a page: the
browser's drawing is not in it (tests/e2e/measure_pages.py measures that on small collections). Not a test: nothing
here asserts a time.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # a stage process's start: its imports count towards the app's start

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchsuite import stages  # noqa: E402

PAGES = {"Search": "search", "Map": "map", "Clusters": "clusters", "Label next": "label_next",
         "Duplicates": "duplicates", "Collections": "collections"}
TIMEOUT = 1800
QUERY_PHOTO = ROOT.parent / "shared" / "datasets" / "clothing-small"


def _thumbs(directory: Path) -> int:
    folder = directory / "thumbs"
    return sum(1 for _ in folder.rglob("*.jpg")) if folder.exists() else 0


def _timed(at, directory: Path) -> tuple[float, int]:
    before = _thumbs(directory)
    started = time.perf_counter()
    at.run(timeout=TIMEOUT)
    seconds = time.perf_counter() - started
    problems = [e.message for e in at.exception] + [e.value for e in at.error]
    if problems:
        raise SystemExit(f"the page failed: {problems[:2]}")
    return seconds, _thumbs(directory) - before


def stage_pages(args: argparse.Namespace) -> dict:
    from streamlit.testing.v1 import AppTest

    from benchsuite.measure import hwm_mb
    from ui import jobs
    from ui.queries import QUERY, Query

    directory = Path(args.collection)
    shutil.rmtree(directory / "thumbs", ignore_errors=True)
    query = sorted(QUERY_PHOTO.rglob("*.jpg"))[0].read_bytes()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    import_s = time.perf_counter() - T0
    start_s, start_thumbs = _timed(at, directory)
    out: dict = {"import_s": import_s, "start_s": start_s, "start_thumbs": start_thumbs, "pages": {}}
    for round_ in ("first", "again"):
        for title, page in PAGES.items():
            at.switch_page(f"app_pages/{page}.py")
            if page == "search":
                at.session_state[QUERY] = Query("upload", "query.jpg", data=query)
            seconds, made = _timed(at, directory)
            out["pages"].setdefault(title, {})[round_] = seconds
            out["pages"][title][f"{round_}_thumbs"] = made
            print(f"[pages] {title} ({round_}): {seconds:.2f} s, {made} thumbnails", file=sys.stderr, flush=True)
    at.switch_page("app_pages/duplicates.py").run(timeout=TIMEOUT)
    if not args.skip_scan and any(b.key == "dup_start" for b in at.button):
        started = time.perf_counter()
        at.button(key="dup_start").click().run(timeout=TIMEOUT)
        jobs.runner().wait(kind="duplicates")
        out["scan_s"] = time.perf_counter() - started
        seconds, made = _timed(at, directory)
        out["scan_shown_s"], out["scan_shown_thumbs"] = seconds, made
        print(f"[pages] duplicates compared in {out['scan_s']:.0f} s; shown in {seconds:.2f} s", file=sys.stderr)
    out["peak_mb"] = hwm_mb()
    return out


def stage_restart(args: argparse.Namespace) -> dict:
    from streamlit.testing.v1 import AppTest

    from benchsuite.measure import hwm_mb

    directory = Path(args.collection)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    start_s, _ = _timed(at, directory)
    at.switch_page("app_pages/duplicates.py")
    first, made = _timed(at, directory)
    again, _ = _timed(at, directory)
    kept = not any(b.key == "dup_start" for b in at.button)
    return {"start_s": start_s, "first": first, "again": again, "thumbs": made, "kept": kept, "peak_mb": hwm_mb()}


STAGES = {"pages": stage_pages, "restart": stage_restart}


def run_stage(name: str, args: argparse.Namespace, env: dict) -> dict:
    argv = ["--collection", str(args.collection)] + (["--skip-scan"] if args.skip_scan else [])
    return stages.run_child(__file__, name, argv, "pages", env=env, cwd=ROOT)


def render(n: int, about: str, r: dict, restart: dict) -> str:
    pages = r["pages"]
    lines = [f"## App pages at {n:,} images (issue 11: every page opens in seconds)", "",
             f"Machine: {os.cpu_count()} cores, shared with other agents. Collection: `benchmarks/synthetic_collection.py` "
             f"({about}; every path a real JPEG). Streamlit AppTest, server side of each page (no browser), in a fresh "
             "process; thumbnails deleted first. Targets: first open ≤ 5 s, re-open ≤ 2 s, the app well under 8 GB. "
             "Produced by `benchmarks/pages.py`.", "",
             "| page | first open | re-open | thumbnails made (first open) | met |", "|---|---|---|---|---|",
             f"| app start (lands on Search, no query), after {r['import_s']:.1f} s of Python imports | "
             f"{r['start_s']:.1f} s | — | {r['start_thumbs']} | {_met(r['start_s'] + r['import_s'] <= 5)} |"]
    for title, t in pages.items():
        what = f"{title} (a query by an uploaded photo)" if title == "Search" else title
        if title == "Duplicates":
            what = "Duplicates (nothing compared yet: the page offers the background comparison)"
        lines.append(f"| {what} | {t['first']:.2f} s | {t['again']:.2f} s | {t['first_thumbs']} | "
                     f"{_met(t['first'] <= 5 and t['again'] <= 2)} |")
    if "scan_s" in r:
        lines.append(f"| Duplicates: the comparison (background, with a progress bar) | {r['scan_s']:.0f} s | — | — "
                     "| (background) |")
        lines.append(f"| Duplicates: the groups, once compared | {r['scan_shown_s']:.2f} s | — | "
                     f"{r['scan_shown_thumbs']} | {_met(r['scan_shown_s'] <= 5)} |")
    lines.append(f"| after a restart: app start, then Duplicates with the kept comparison | {restart['start_s']:.1f} s, "
                 f"{restart['first']:.2f} s | {restart['again']:.2f} s | {restart['thumbs']} | "
                 f"{_met(restart['kept'] and restart['first'] <= 5 and restart['again'] <= 2)} |")
    lines += ["", f"Peak RSS of the app process: {r['peak_mb'] / 1024:.2f} GB (all pages, the comparison included); "
              f"after the restart: {restart['peak_mb'] / 1024:.2f} GB."
              + ("" if restart["kept"] else " **The comparison was not kept across the restart.**")]
    return "\n".join(lines) + "\n"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--collection", type=Path, required=True, help="DATA/collections/NAME")
    p.add_argument("--out", type=Path, help="write the `pages` section of this report (e.g. BENCHMARKS.md)")
    p.add_argument("--section", default="pages", help="the report's section to write (default: pages)")
    p.add_argument("--note", default="", help="said of the collection in the report, e.g. how it was built")
    p.add_argument("--skip-scan", action="store_true", help="do not run the duplicates comparison (minutes at 1M)")
    stages.add_stage_argument(p, STAGES)
    args = p.parse_args()
    if stages.run_if_child(args, STAGES):
        return 0
    args.collection = args.collection.resolve()
    if args.collection.parent.name != "collections" or not (args.collection / "catalog.sqlite").exists():
        raise SystemExit(f"{args.collection} is not a collection inside a data directory's collections/ folder")
    from revsearch.collection import Collection

    from revsearch import near_duplicates

    with Collection.open(args.collection) as coll:
        n = coll.counts()["indexed"]
        index = coll.index_info().kind
        k = coll.meta("clusters_k")
        near_duplicates.forget_comparison(coll)  # the first open finds nothing compared
    env = dict(os.environ, REVSEARCH_DATA=str(args.collection.parent.parent), REVSEARCH_DEMO="off")
    results = run_stage("pages", args, env)
    restart = run_stage("restart", args, env)
    print(json.dumps({"n": n, "pages": results, "restart": restart}), file=sys.stderr)
    about = f"{n:,} synthetic 1280-d vectors, {index} index, {k} clusters, a stored map" + (
        f", {args.note}" if args.note else "")
    text = render(n, about, results, restart)
    print(text)
    if args.out:
        from benchsuite.sections import write_section

        write_section(args.out, args.section, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
