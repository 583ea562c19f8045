"""`cluster`: group the collection with k-means; show, merge or redo the clusters."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from revsearch import clusters, labels
from revsearch.cli.common import (acting_user, add_as_arg, add_collection_arg, add_json_arg, add_quiet_arg,
                                  lazy_progress, print_json)
from revsearch.collection import Collection
from revsearch.errors import RevsearchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="group the collection with k-means; show, merge or redo the clusters")
    add_collection_arg(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("-k", type=int, help="number of clusters (re-clusters unless the current clustering has k)")
    how.add_argument("--suggest", action="store_true", help="choose k by silhouette over a range and report scores")
    how.add_argument("--merge", type=int, nargs="+", metavar="ID", help="merge these clusters into the first")
    p.add_argument("--recluster", action="store_true", help="cluster again even if the current clustering has this k")
    p.add_argument("--name", help="with --merge: name (and label) the merged cluster")
    p.add_argument("--seed", type=int, default=clusters.DEFAULT_SEED)
    p.add_argument("--representatives", type=int, default=8, metavar="N")
    add_as_arg(p)
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll, lazy_progress("step", args.quiet) as progress:
        current = clusters.clustering(coll, n_representatives=args.representatives)
        suggestion = None
        reclustered = False
        if args.merge:
            if len(set(args.merge)) < 2:
                raise RevsearchError("--merge needs at least two cluster ids")
            labels.merge_clusters(coll, args.merge, into=args.merge[0], name=args.name, user=acting_user(args))
        elif args.name:
            raise RevsearchError("--name goes with --merge here; to name a cluster use `label --cluster ID --name L`")
        elif args.k is not None or args.suggest:
            k = args.k
            if args.suggest:
                suggestion = clusters.suggest_k(coll, seed=args.seed, progress=progress)
                k = suggestion.best
            if current is None or args.recluster or current.k != k or current.seed != args.seed:
                clusters.recluster(coll, k, seed=args.seed, progress=progress)
                reclustered = True
            elif not args.json:
                print(f"kept the current {k} clusters (new images assigned); --recluster starts over",
                      file=sys.stderr)
        elif current is None:
            raise RevsearchError("the collection has no clusters yet; run `cluster -k K` or `cluster --suggest`")
        result = clusters.clustering(coll, n_representatives=args.representatives)
        if result is None:
            raise RevsearchError("the collection has no clusters yet; run `cluster -k K` or `cluster --suggest`")
        paths = coll.paths([i for c in result.clusters for i in c.member_ids])
    if args.json:
        data = {"k": len(result.clusters), "requested_k": result.k, "seed": result.seed, "reclustered": reclustered,
                "clusters": [c.as_dict(paths) for c in result.clusters]}
        if suggestion is not None:
            data["suggestion"] = suggestion.as_dict()
        print_json(data)
        return 0
    if suggestion is not None:
        scores = "  ".join(f"k={k}: {s:.3f}" for k, s in suggestion.scores.items())
        print(f"suggested k = {suggestion.best} (silhouette, cosine, {suggestion.sample_size} images): {scores}")
    print(f"{len(result.clusters)} clusters" + (" (new clustering)" if reclustered else ""))
    for c in result.clusters:
        rep = Path(c.representatives[0].path).name if c.representatives else ""
        print(f"  {c.id:>4}  {c.size:>6} images  cohesion {c.cohesion:.3f}  {c.name or '-':<20} e.g. {rep}")
    return 0
