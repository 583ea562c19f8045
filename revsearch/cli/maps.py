"""`map`: compute or update the collection's 2-D map."""

from __future__ import annotations

import argparse

from revsearch import projection
from revsearch.cli.common import add_collection_arg, add_json_arg, add_quiet_arg, lazy_progress, print_json
from revsearch.collection import Collection


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("map", help="compute or update the 2-D map (UMAP; PCA under 20 images)")
    add_collection_arg(p)
    p.add_argument("--refit", action="store_true", help="fit the map again from scratch")
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_map)


def cmd_map(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll, lazy_progress("%", args.quiet) as progress:
        update = projection.update_map(coll, progress=progress, force=args.refit)
        points = projection.map_points(coll, update=False) if args.json else []
    if args.json:
        print_json([p.as_dict() for p in points])
    else:
        what = {"cached": "up to date", "fit": "fitted", "transform": "placed new images on",
                "pruned": "removed deleted images from", "empty": "nothing to map in"}.get(update.action, update.action)
        print(f"map: {what} the {update.method or ''} map of {update.points} images"
              + (f" ({update.placed} positioned)" if update.placed else "") + f" in {update.seconds:.1f} s")
    return 0
