"""Dataset commands: split (train/val/test that cannot leak) and exclude (leave images out of exports), see
revsearch/splits.py and revsearch/exclusions.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from revsearch import exclusions, splits
from revsearch.cli.common import add_collection_arg, add_json_arg, add_quiet_arg, lazy_progress, print_json
from revsearch.collection import Collection
from revsearch.errors import RevsearchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("split", help="train/val/test splits, stratified by label, near-copies kept in one split")
    add_collection_arg(p)
    p.add_argument("--ratios", metavar="TRAIN,VAL,TEST",
                   help="e.g. 80,10,10 or 80,20 (train,test); default 80,10,10, or the collection's own split")
    p.add_argument("--seed", type=int, help="random seed of the assignment (default 0, or the split's own)")
    p.add_argument("--threshold", type=float,
                   help="near-duplicate similarity that keeps images together (default: the collection's, as "
                        "`duplicates`; lower catches heavier edits, see BENCHMARKS.md)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--resplit", action="store_true",
                      help="assign every image anew (needed to change the ratios); earlier splits are not kept")
    what.add_argument("--remove", action="store_true", help="forget the split (exports go back to OUT/<label>/)")
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_split)

    p = sub.add_parser("exclude", help="leave images out of every export (reversible: --include, --undo)")
    add_collection_arg(p)
    p.add_argument("images", nargs="*", metavar="PATH", help="images to exclude (paths or ids)")
    p.add_argument("--reason", help="why (the dataset card lists it); required to exclude")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--include", action="store_true", help="take these images back into exports")
    what.add_argument("--undo", action="store_true", help="undo the latest exclude / include (again: one more back)")
    what.add_argument("--list", action="store_true", help="the excluded images with their reasons")
    add_json_arg(p)
    p.set_defaults(run=cmd_exclude)


# ---------------------------------------------------------------------------------------------------- split


def cmd_split(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll, lazy_progress("step", args.quiet) as progress:
        if args.remove:
            if args.ratios or args.seed is not None or args.threshold is not None:
                raise RevsearchError("--remove takes no --ratios, --seed or --threshold")
            n = splits.remove(coll)
            if args.json:
                print_json({"removed": n})
            else:
                print(f"split removed ({n} images had one)")
            return 0
        rep = splits.make_split(coll, args.ratios, args.seed, resplit=args.resplit, progress=progress,
                                threshold=args.threshold)
    data = rep.as_dict()
    if args.json:
        print_json(data)
    else:
        _print_split(data)
    return 1 if data["leaks"]["total"] else 0


def _print_split(data: dict) -> None:
    names = data["names"]
    ratios = " / ".join(f"{name} {100 * r:g} %" for name, r in data["ratios"].items())
    how = "split anew" if data["resplit"] else f"kept {data['kept']:,} images' splits"
    print(f"{ratios} (seed {data['seed']}): {how}, assigned {data['assigned']:,}; {data['total']:,} images"
          + (f", {data['excluded']:,} excluded" if data["excluded"] else ""))
    print(f"  {'class':<24}" + "".join(f"{name:>9}" for name in names) + f"{'total':>9}  off by (points)")
    rows = [(label, c, f"{c['deviation']:.1f}") for label, c in data["per_class"].items()]
    if any(data["unlabelled"].values()):
        rows.append(("(unlabelled)", {**data["unlabelled"], "total": sum(data["unlabelled"].values())}, ""))
    rows.append(("all", {**data["splits"], "total": data["total"]}, ""))
    for label, c, off in rows:
        print(f"  {label[:24]:<24}" + "".join(f"{c.get(name, 0):>9,}" for name in names) + f"{c['total']:>9,}  {off}")
    g, leaks = data["groups"], data["leaks"]
    print(f"kept together: {g['kept_together']:,} groups of near-copies or exact copies ({g['images']:,} images, "
          f"largest {g['largest']})")
    if leaks["total"]:
        print(f"LEAKS: {leaks['total']} (a new image ties together groups already in different splits); "
              "`split --resplit` assigns everything anew")
    else:
        print("leaks: 0 (no near-copy or exact copy on both sides of a split)")


# ---------------------------------------------------------------------------------------------------- exclude


def cmd_exclude(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll:
        if args.list or args.undo:
            if args.images or args.reason:
                raise RevsearchError("--list and --undo take no images or --reason")
            return _list(coll, args.json) if args.list else _undo(coll, args.json)
        if not args.images:
            raise RevsearchError("name the images to exclude (paths or ids), or use --list / --undo")
        refs = [int(r) if r.isdigit() and not Path(r).exists() else r for r in args.images]
        if args.include:
            if args.reason:
                raise RevsearchError("--include takes no --reason")
            changed, action = exclusions.include(coll, refs), "included"
        else:
            if not args.reason:
                raise RevsearchError("--reason TEXT is required: the dataset card says why images were left out")
            changed, action = exclusions.exclude(coll, refs, args.reason), "excluded"
        total = exclusions.count(coll)
    if args.json:
        print_json({"action": action, "changed": changed, "excluded": total})
    else:
        print(f"{action}: {changed} image(s) changed (exact copies included); {total} excluded in all")
    return 0


def _list(coll: Collection, as_json: bool) -> int:
    gone = exclusions.excluded(coll)
    last = exclusions.last_action(coll)
    if as_json:
        print_json({"excluded": [e.as_dict() for e in gone.values()], "undo": last.as_dict() if last else None})
        return 0
    for e in gone.values():
        print(f"  {e.reason:<30} {e.path}")
    print(f"{len(gone)} image(s) excluded" + (f"; --undo would undo: {last.description}" if last else ""))
    return 0


def _undo(coll: Collection, as_json: bool) -> int:
    rep = exclusions.undo(coll)
    following = exclusions.last_action(coll)
    if as_json:
        print_json({**rep.as_dict(), "next": following.as_dict() if following else None})
        return 0
    print(f"undid: {rep.action.description}: {rep.restored} image(s) restored"
          + (f", {len(rep.skipped)} left as they are (changed since)" if rep.skipped else ""))
    print(f"next --undo: {following.description}" if following else "nothing more to undo")
    return 0
