"""`montage`: a PNG contact sheet of a query's results or of a cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from revsearch import images, montage, regions
from revsearch.cli.common import add_collection_arg, add_json_arg, add_model_args, embedder_for, print_json
from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.search import Searcher


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("montage", help="a PNG contact sheet of a query's results or of a cluster")
    add_collection_arg(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--query", type=Path, metavar="IMAGE")
    src.add_argument("--cluster", type=int, metavar="ID")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.png")
    p.add_argument("-k", type=int, default=15, help="results (query) or representatives (cluster); default 15")
    p.add_argument("--cols", type=int, default=4)
    p.add_argument("--tile", type=int, default=192, help="tile size in pixels")
    add_model_args(p)
    add_json_arg(p)
    p.set_defaults(run=cmd_montage)


def cmd_montage(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise RevsearchError("-k must be at least 1")
    with Collection.open(args.collection) as coll:
        if args.query is not None:
            searcher = Searcher(coll, embedder_for(coll, args))
            img = regions.query_image(args.query, size=searcher.embedder.input_size)
            if isinstance(img, images.Skip):
                raise RevsearchError(f"cannot use {args.query} as a query: {img.reason}")
            hits = searcher.by_images([img], k=args.k)[0]
            picture = montage.query_montage(coll, args.query, hits, cols=args.cols, tile=args.tile,
                                            title=f"{args.query.name}: top {len(hits)} in {coll.directory.name}")
        else:
            picture = montage.cluster_montage(coll, args.cluster, n=args.k, cols=args.cols, tile=args.tile)
        out = montage.save_png(picture, args.out)
    if args.json:
        print_json({"out": str(out), "width": picture.width, "height": picture.height})
    else:
        print(f"wrote {out} ({picture.width}×{picture.height})")
    return 0
