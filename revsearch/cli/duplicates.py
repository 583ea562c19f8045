"""`duplicates`: groups of near-identical images (and exact copies) with their scores."""

from __future__ import annotations

import argparse

from revsearch import near_duplicates
from revsearch.cli.common import add_collection_arg, add_json_arg, print_json
from revsearch.collection import Collection


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("duplicates", help="groups of near-identical images (and exact copies) with scores")
    add_collection_arg(p)
    p.add_argument("--threshold", type=float,
                   help="cosine similarity (default: measured on clothing-small for the collection's input handling, "
                        + ", ".join(f"{t} for {mode}" for mode, t in near_duplicates.THRESHOLDS.items()) + ")")
    p.add_argument("--no-exact", action="store_true", help="leave exact (same content) copies out")
    add_json_arg(p)
    p.set_defaults(run=cmd_duplicates)


def cmd_duplicates(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll:
        if args.threshold is None:
            args.threshold = near_duplicates.default_threshold(coll)
        groups = near_duplicates.find_duplicates(coll, args.threshold, include_exact=not args.no_exact)
    if args.json:
        print_json({"threshold": args.threshold, "groups": [g.as_dict() for g in groups]})
        return 0
    if not groups:
        print(f"no images at or above similarity {args.threshold}")
    for g in groups:
        kind = "exact copies" if g.exact else f"similarity {g.min_score:.3f}–{g.max_score:.3f}"
        print(f"group {g.id}: {len(g.members)} images, {kind}")
        for m in g.members:
            print(f"  {m.score:.3f}{' =' if m.exact else '  '} {m.path}")
    return 0
