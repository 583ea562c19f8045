"""Learning commands: `learn` (train the collection's learned space from its labels) and `review` (what to label next)."""

from __future__ import annotations

import argparse

from revsearch import learned
from revsearch.cli.common import add_collection_arg, add_json_arg, add_quiet_arg, lazy_progress, print_json
from revsearch.collection import Collection
from revsearch.errors import RevsearchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn", help="learn from the labels: a space where search, clusters, the map and suggestions "
                                     "follow the labelled kinds (used only when it beats the pretrained one)")
    add_collection_arg(p)
    p.add_argument("--status", action="store_true", help="only say whether a learned space is used and is current")
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_learn)

    p = sub.add_parser("review", help="the images to label next: those that teach the most (never labelled ones)")
    add_collection_arg(p)
    p.add_argument("-n", type=int, default=20, help="how many (default 20)")
    add_json_arg(p)
    p.set_defaults(run=cmd_review)


def cmd_learn(args: argparse.Namespace) -> int:
    with Collection.open(args.collection, read_only=args.status) as coll:
        if args.status:
            data = learned.status(coll)
            if args.json:
                print_json(data)
            else:
                print(data["message"])
            return 0
        with lazy_progress("step", args.quiet or args.json) as progress:
            result = learned.learn(coll, progress=progress)
    if args.json:
        print_json(result.as_dict())
    else:
        print(result.message + f" ({result.seconds:.1f} s)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise RevsearchError("-n must be at least 1")
    with Collection.open(args.collection) as coll:
        items = learned.review(coll, args.n)
    if args.json:
        print_json([i.as_dict() for i in items])
        return 0
    if not items:
        print("nothing to review: every indexed image is labelled")
    for i in items:
        guess = f"{i.suggested} ({i.confidence:.2f})" if i.suggested else "?"
        print(f"  {guess:<28} {i.path}")
    return 0
