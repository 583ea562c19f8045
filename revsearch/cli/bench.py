"""`bench`: the benchmark suite of issue 5 — naive pipeline vs revsearch, side by side in one run, → BENCHMARKS.md.

Only argparse here: the benchmark itself (torch, faiss, UMAP …) is imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SECTIONS = ("vga", "mp12", "query", "ann", "add", "umap", "quality", "profile")


def add_arguments(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, under 2 minutes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (8 images, 2k vectors), under 30 s; for tests")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="where to write the report (default: BENCHMARKS.md at the repository root)")
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark: naive pipeline vs revsearch side by side, writes BENCHMARKS.md")
    add_arguments(p)
    p.set_defaults(run=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from revsearch.bench import run

    return run(args)
