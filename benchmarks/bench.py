#!/usr/bin/env python3
"""The benchmark suite of issue 5: the naive seed-style pipeline and revsearch, side by side in one run.

    .venv/bin/python benchmarks/bench.py --out BENCHMARKS.md            # full run (< 10 min, 2-core machine)
    .venv/bin/python benchmarks/bench.py --quick --out /tmp/bench.md    # smaller sizes (< 2 min)
    .venv/bin/python benchmarks/bench.py --smoke --out /tmp/bench.md    # tiny (< 30 s), what the tests run

Generates or reads its inputs (see benchsuite/inputs.py), measures every row of the issue's table, prints it and
writes the report where --out says (machine, table with ratios, a per-stage profile; benchmarks/ANALYSIS.md, written
by hand, is appended). The full run measures naive and revsearch throughput 3 times, interleaved, and reports medians.
Not a test: nothing here asserts a time.

The machine may be shared: every timed block records how many cores other processes used meanwhile (from
/proc/stat), the report flags disturbed numbers, and `--wait-quiet S` waits for quiet and re-measures disturbed runs.
It benchmarks the revsearch of the checkout it sits in, through revsearch's public API only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the revsearch beside this folder, installed or not

from benchsuite.ann import ann  # noqa: E402
from benchsuite.sections import write_section  # noqa: E402
from benchsuite.growth import add_and_umap  # noqa: E402
from benchsuite.measure import Log, machine_info  # noqa: E402
from benchsuite.plans import PLANS, SECTIONS  # noqa: E402
from benchsuite.profile import profile  # noqa: E402
from benchsuite.quality import quality  # noqa: E402
from benchsuite.query import query  # noqa: E402
from benchsuite.report import render, render_profile, render_table_text, write_json  # noqa: E402
from benchsuite.session import Session  # noqa: E402
from benchsuite.throughput import throughput  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks/bench.py", description=__doc__.split("\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, under 2 minutes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (8 images, 2k vectors), under 30 s; for tests")
    p.add_argument("--out", type=Path, metavar="FILE", required=True,
                   help="where to write the report (the repository's is BENCHMARKS.md)")
    p.add_argument("--json", type=Path, metavar="FILE", dest="json_out", help="also write the raw numbers as JSON")
    p.add_argument("--dataset", type=Path, metavar="DIR",
                   help="clothing-small (default: ../shared/datasets/clothing-small beside the repository)")
    p.add_argument("--work", type=Path, metavar="DIR",
                   help="where generated inputs are cached (default: $REVSEARCH_CACHE/bench or ~/.cache/revsearch/bench)")
    p.add_argument("--only", metavar="LIST",
                   help=f"comma-separated sections to run ({','.join(SECTIONS)}); the others are reported n/a")
    p.add_argument("--ann-dim", type=int, metavar="D",
                   help="dimension of the synthetic ANN vectors (default: 1280 if it fits --mem-gb, else smaller)")
    p.add_argument("--mem-gb", type=float, default=10.0, help="memory budget of the ANN benchmark (default 10)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each section wait up to S seconds for other processes to leave the CPU idle")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    return p


def run(args: argparse.Namespace) -> int:
    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    only = set(SECTIONS) if not args.only else {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})")
    for target in (args.out, args.json_out):
        if target is not None and not target.expanduser().resolve().parent.is_dir():
            raise SystemExit(f"cannot write {target}: its folder does not exist")
    log = Log(args.quiet)
    session = Session(args, plan, log)
    res = session.res
    res.machine = machine_info()
    started = time.perf_counter()

    def stage(name: str, fn: Callable[[], None]) -> None:
        if args.wait_quiet:
            session.meter.wait_quiet(args.wait_quiet, log)
        t = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # one broken section must not cost the whole report
            import traceback

            traceback.print_exc()
            key = {"add_and_umap": "add"}.get(name, name)
            if key in res.rows:
                res.rows[key].note = f"failed: {type(exc).__name__}: {exc}"
            res.raw.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        res.seconds[name] = time.perf_counter() - t

    try:
        if "vga" in only:
            stage("vga", lambda: throughput(session, "vga"))
        if "mp12" in only:
            stage("mp12", lambda: throughput(session, "mp12"))
        if "query" in only:
            stage("query", lambda: query(session))
        if "add" in only or "umap" in only:
            stage("add_and_umap", lambda: add_and_umap(session, "add" in only, "umap" in only))
        if "quality" in only:
            stage("quality", lambda: quality(session))
        if "profile" in only:
            stage("profile", lambda: profile(session))
        if "ann" in only:
            stage("ann", lambda: ann(session))
    finally:
        shutil.rmtree(session.tmp, ignore_errors=True)
    if "umap" in only and not plan.umap_points:
        res.rows["umap"].note = "skipped in smoke mode (UMAP's numba JIT alone takes longer than the smoke budget)"
    total = time.perf_counter() - started
    mode = " --quick" if args.quick else " --smoke" if args.smoke else ""
    text = render(res, f"python benchmarks/bench.py{mode} --out {args.out}", total)
    write_section(args.out, "suite", text)  # the report's other sections belong to other programs: keep them
    if args.json_out:
        write_json(res, args.json_out)
    print(render_table_text(res))
    if res.profile:
        print()
        print("\n".join(render_profile(res)))
    print(f"\nwrote {args.out} ({total:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
