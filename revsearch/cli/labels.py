"""`label`, `suggest` and `export`: labelling images and clusters, suggestions from labelled neighbours,
and exporting the labels."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from revsearch import audit, export, labels
from revsearch.auth.roots import Roots
from revsearch.cli.common import (acting_user, add_as_arg, add_collection_arg, add_json_arg, add_quiet_arg,
                                  image_refs, lazy_progress, print_json)
from revsearch.collection import Collection
from revsearch.errors import RevsearchError


def register(sub: argparse._SubParsersAction) -> None:
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
            refs = image_refs(args.image)
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


def cmd_export(args: argparse.Namespace) -> int:
    roots = Roots.from_env(shared=False)  # with $REVSEARCH_ROOTS set, exports stay inside the allowed folders too
    if roots.confined:
        args.out = roots.confine(args.out)
    with Collection.open(args.collection) as coll, lazy_progress("file", args.quiet) as progress:
        checked = audit.card_section(coll)  # the last `audit`'s counts go into the dataset card
        if args.format == "imagefolder":
            rep = export.export_imagefolder(coll, args.out, link=args.link, unlabelled=args.unlabelled,
                                            progress=progress, audit=checked)
        elif args.format == "csv":
            rep = export.export_csv(coll, args.out, include_unlabelled=not args.labelled_only, force=args.force,
                                    audit=checked)
        else:
            rep = export.export_json(coll, args.out, include_unlabelled=not args.labelled_only, force=args.force,
                                     audit=checked)
    if args.json:
        print_json(rep.as_dict())
    else:
        print(f"exported {rep.written} {'files' if args.format == 'imagefolder' else 'rows'} to {rep.out} "
              f"({rep.labelled} labelled, {rep.unlabelled_written} unlabelled"
              + (f", {rep.unlabelled_skipped} unlabelled left out" if rep.unlabelled_skipped else "")
              + (f", {rep.renamed} renamed to avoid a clash" if rep.renamed else "")
              + (f", {rep.excluded} excluded left out" if rep.excluded else "") + ")")
        if rep.split_assigned:
            print(f"  assigned {rep.split_assigned} image(s) added since the split to a split first")
        if rep.card:
            print(f"  dataset card: {', '.join(rep.card)}")
        for m in rep.missing[:20]:
            print(f"  could not read {m}")
    return 1 if rep.missing else 0
