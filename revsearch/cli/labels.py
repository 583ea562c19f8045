"""Exploration commands: cluster, map, label, suggest, export, duplicates, montage (see revsearch/clusters.py etc.)."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from revsearch import clusters, export, labels, montage, near_duplicates, projection
from revsearch.auth.roots import Roots
from revsearch.cli.common import (acting_user, add_as_arg, add_collection_arg, add_json_arg, add_model_args,
                                  add_quiet_arg, embedder_for, print_json, progress_bar)
from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.progress import Progress


@contextmanager
def lazy_progress(unit: str, quiet: bool) -> Iterator[Progress]:
    """A progress bar that appears only once there is progress to show, so a failing command prints one line."""
    with ExitStack() as stack:
        bar: list[Progress] = []

        def update(done: int, total: int, message: str) -> None:
            if quiet:
                return
            if not bar:
                bar.append(stack.enter_context(progress_bar(unit)))
            bar[0](done, total, message)

        yield update


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

    p = sub.add_parser("map", help="compute or update the 2-D map (UMAP; PCA under 20 images)")
    add_collection_arg(p)
    p.add_argument("--refit", action="store_true", help="fit the map again from scratch")
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_map)

    p = sub.add_parser("label", help="name a cluster, label/unlabel images, rename a label, import labels, undo")
    add_collection_arg(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--cluster", type=int, metavar="ID", help="name this cluster; its members without a hand label get the label")
    what.add_argument("--image", nargs="+", metavar="PATH", help="label these images (paths or ids)")
    what.add_argument("--rename", metavar="OLD", help="rename the label OLD to --name everywhere")
    what.add_argument("--import", dest="import_csv", type=Path, metavar="CSV", help="labels from a path,label CSV")
    what.add_argument("--from-folders", nargs="?", const="", metavar="FOLDER",
                      help="label images by their class subfolder (ImageFolder layout; all indexed folders, or FOLDER)")
    what.add_argument("--list", action="store_true", help="label counts and recent history")
    what.add_argument("--undo", action="store_true",
                      help="undo your latest labelling action not undone yet (again: one more level back)")
    p.add_argument("--name", help="the label")
    p.add_argument("--remove", action="store_true", help="with --image / --cluster: remove the label instead")
    p.add_argument("--anyone", action="store_true", help="with --undo: the latest action of anyone, not only yours")
    add_as_arg(p)
    add_json_arg(p)
    p.set_defaults(run=cmd_label)

    p = sub.add_parser("suggest", help="suggest labels for unlabelled images from labelled neighbours")
    add_collection_arg(p)
    p.add_argument("--accept-above", type=float, metavar="P", help="label every suggestion with confidence ≥ P")
    p.add_argument("-k", type=int, default=labels.DEFAULT_K, help="labelled neighbours that vote (default 10)")
    p.add_argument("--limit", type=int, default=50, help="suggestions to print without --json (default 50)")
    add_as_arg(p)
    add_json_arg(p)
    p.set_defaults(run=cmd_suggest)

    p = sub.add_parser("export", help="export labels: ImageFolder copies/links, CSV or JSON (originals untouched)")
    add_collection_arg(p)
    p.add_argument("--format", required=True, choices=("imagefolder", "csv", "json"))
    p.add_argument("--out", required=True, type=Path, metavar="PATH", help="folder (imagefolder) or file")
    p.add_argument("--link", action="store_true", help="imagefolder: symlinks instead of copies")
    p.add_argument("--unlabelled", choices=export.UNLABELLED_CHOICES, default="skip",
                   help="imagefolder: leave unlabelled images out (skip) or put them in _unlabelled/ (folder)")
    p.add_argument("--labelled-only", action="store_true", help="csv/json: leave unlabelled images out")
    p.add_argument("--force", action="store_true", help="csv/json: replace an existing file (never done silently)")
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("duplicates", help="groups of near-identical images (and exact copies) with scores")
    add_collection_arg(p)
    p.add_argument("--threshold", type=float,
                   help="cosine similarity (default: measured on clothing-small for the collection's input handling, "
                        + ", ".join(f"{t} for {mode}" for mode, t in near_duplicates.THRESHOLDS.items()) + ")")
    p.add_argument("--no-exact", action="store_true", help="leave exact (same content) copies out")
    add_json_arg(p)
    p.set_defaults(run=cmd_duplicates)

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


# ---------------------------------------------------------------------------------------------------- cluster


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


# ---------------------------------------------------------------------------------------------------- map


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


# ---------------------------------------------------------------------------------------------------- label


def cmd_label(args: argparse.Namespace) -> int:
    who = acting_user(args)
    if args.anyone and not args.undo:
        raise RevsearchError("--anyone goes with --undo")
    with Collection.open(args.collection) as coll:
        if args.list:
            counts = labels.label_counts(coll)
            hist = labels.history(coll, limit=20)
            last = labels.last_action(coll, user=who)
            if args.json:
                print_json({"labels": counts, "history": [h.as_dict() for h in hist],
                            "undo": last.as_dict() if last else None})
            else:
                for name, n in counts.items():
                    print(f"{n:>6}  {name}")
                if not counts:
                    print("no labels yet")
                for h in hist[:10]:
                    print(f"  {time.strftime('%Y-%m-%d %H:%M', time.localtime(h.at))}  {h.user or '?':<12} "
                          f"{h.kind} {h.subject}: {h.old or '-'} → {h.new or '-'}")
                if last:
                    print(f"--undo would undo: {last.description}")
            return 0
        if args.undo:
            if args.name or args.remove:
                raise RevsearchError("--undo takes no --name or --remove")
            target = labels.last_action(coll, user=None) if args.anyone else None
            if args.anyone and target is None:
                raise RevsearchError("nothing to undo: no labelling action left")
            report = labels.undo(coll, target.id if target else None, user=who, others=args.anyone)
            return _print_undo(report, labels.last_action(coll, user=who), args.json)
        if args.import_csv is not None or args.from_folders is not None:
            rep = (labels.import_csv(coll, args.import_csv, user=who) if args.import_csv is not None
                   else labels.import_folders(coll, args.from_folders or None, user=who))
            if args.json:
                print_json(rep.as_dict())
            else:
                print(f"labelled {rep.labelled} images ({rep.unchanged} unchanged, {rep.empty} rows without a label)")
                for p in rep.unknown[:20]:
                    print(f"  not in the collection: {p}")
                if len(rep.unknown) > 20:
                    print(f"  … and {len(rep.unknown) - 20} more")
            return 1 if rep.unknown or rep.not_indexed else 0
        if args.remove and args.name:
            raise RevsearchError("give either --name or --remove, not both")
        if not args.remove and not args.name:
            raise RevsearchError("--name LABEL is required (or --remove)")
        if args.rename is not None:
            if args.remove:
                raise RevsearchError("--remove does not go with --rename")
            changed = labels.rename_label(coll, args.rename, args.name, user=who)
            action = f"renamed {args.rename!r} to {args.name!r}"
        elif args.cluster is not None:
            changed = labels.name_cluster(coll, args.cluster, None if args.remove else args.name, user=who)
            action = f"cluster {args.cluster} " + ("unnamed" if args.remove else f"named {args.name!r}")
        else:
            refs = [int(r) if r.isdigit() and not Path(r).exists() else r for r in args.image]
            if args.remove:
                changed = labels.unlabel_images(coll, refs, user=who)
                action = "labels removed"
            else:
                changed = labels.label_images(coll, refs, args.name, user=who)
                action = f"labelled {args.name!r}"
    if args.json:
        print_json({"action": action, "changed": changed})
    else:
        print(f"{action}: {changed} image(s) changed")
    return 0


def _print_undo(rep: labels.UndoReport, next_action: labels.Action | None, as_json: bool) -> int:
    """Say what was undone, what was skipped because it changed since, and what the next undo would undo."""
    action = f"undid: {rep.action.description}"
    if as_json:
        print_json({"action": action, "changed": rep.restored, **rep.as_dict(),
                    "next": next_action.as_dict() if next_action else None})
        return 0
    print(f"{action}: {rep.restored} image(s) restored"
          + (f", {rep.clusters} cluster name(s) restored" if rep.clusters else ""))
    if rep.skipped:
        print(f"  {len(rep.skipped)} image(s) left as they are (their label changed since):")
        for path in rep.skipped[:20]:
            print(f"    {path}")
    if rep.clusters_skipped:
        print(f"  cluster(s) {', '.join(map(str, rep.clusters_skipped))} renamed or gone since: names left as they are")
    if rep.note:
        print(f"  note: {rep.note}")
    print(f"next --undo: {next_action.description}" if next_action else "nothing more to undo")
    return 0


# ---------------------------------------------------------------------------------------------------- suggest


def cmd_suggest(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll:
        if not labels.label_counts(coll):
            raise RevsearchError("no labelled images yet: label a few (`label --cluster ID --name L`) first")
        suggestions = labels.suggest(coll, k=args.k)
        accepted = None
        if args.accept_above is not None:
            accepted = labels.accept_suggestions(coll, args.accept_above, k=args.k, suggestions=suggestions,
                                                 user=acting_user(args))
    if args.json:
        print_json({"suggestions": [s.as_dict() for s in suggestions], "accepted": accepted,
                    "threshold": args.accept_above})
        return 0
    for s in suggestions[: args.limit]:
        print(f"  {s.confidence:.3f}  {s.label:<20} {s.path}")
    if len(suggestions) > args.limit:
        print(f"  … and {len(suggestions) - args.limit} more (--json for all)")
    if not suggestions:
        print("no suggestions: every indexed image is labelled")
    if accepted is not None:
        print(f"accepted {accepted} suggestions with confidence ≥ {args.accept_above}")
    return 0


# ---------------------------------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    roots = Roots.from_env(shared=False)  # with $REVSEARCH_ROOTS set, exports stay inside the allowed folders too
    if roots.confined:
        args.out = roots.confine(args.out)
    with Collection.open(args.collection) as coll, lazy_progress("file", args.quiet) as progress:
        if args.format == "imagefolder":
            rep = export.export_imagefolder(coll, args.out, link=args.link, unlabelled=args.unlabelled,
                                            progress=progress)
        elif args.format == "csv":
            rep = export.export_csv(coll, args.out, include_unlabelled=not args.labelled_only, force=args.force)
        else:
            rep = export.export_json(coll, args.out, include_unlabelled=not args.labelled_only, force=args.force)
    if args.json:
        print_json(rep.as_dict())
    else:
        print(f"exported {rep.written} {'files' if args.format == 'imagefolder' else 'rows'} to {rep.out} "
              f"({rep.labelled} labelled, {rep.unlabelled_written} unlabelled"
              + (f", {rep.unlabelled_skipped} unlabelled left out" if rep.unlabelled_skipped else "")
              + (f", {rep.renamed} renamed to avoid a clash" if rep.renamed else "") + ")")
        for m in rep.missing[:20]:
            print(f"  could not read {m}")
    return 1 if rep.missing else 0


# ---------------------------------------------------------------------------------------------------- duplicates


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


# ---------------------------------------------------------------------------------------------------- montage


def cmd_montage(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise RevsearchError("-k must be at least 1")
    with Collection.open(args.collection) as coll:
        if args.query is not None:
            from revsearch import images
            from revsearch.search import Searcher

            searcher = Searcher(coll, embedder_for(coll, args))
            img = images.load_image(args.query, target=searcher.embedder.input_size)
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
