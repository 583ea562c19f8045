"""`audit`: labels that are probably wrong, images with quality problems, overlap with an outside set; and acting on
them (take suggestions, confirm labels). Fixing one label by hand is `label --image ID --name L`; `label --undo`
undoes both."""

from __future__ import annotations

import argparse
from pathlib import Path

from revsearch import audit, exclusions, labels
from revsearch.audit.report import AuditReport
from revsearch.cli.common import (acting_user, add_as_arg, add_collection_arg, add_json_arg, add_model_args,
                                  add_quiet_arg, embedder_for, image_refs, lazy_progress, print_json)
from revsearch.collection import Collection
from revsearch.errors import RevsearchError

SHOWN = 20  # issues of each kind printed without --json (--limit)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="check the dataset: probably wrong labels, junk images (dark, blurred, tiny, "
                                     "…), overlap with a test set; confirm labels or take suggestions")
    add_collection_arg(p)
    p.add_argument("--against", type=Path, metavar="FOLDER|COLLECTION",
                   help="also list the images of this folder or collection that copy collection images "
                        "(test-set contamination)")
    p.add_argument("--threshold", type=float, help="with --against: similarity from which an image is a near-copy "
                                                   "(default: the collection's near-duplicate threshold)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--accept", nargs="+", metavar="ID|PATH",
                     help="take the suggested label of these label issues (one labelling action: `label --undo`)")
    act.add_argument("--confirm", nargs="+", metavar="ID|PATH",
                     help="these labels are right: never reported again while the images keep them")
    act.add_argument("--unconfirm", nargs="+", metavar="ID|PATH", help="take confirmations back")
    act.add_argument("--exclude", nargs="+", metavar="ISSUE", choices=("label", *audit.ISSUES),
                     help="leave every image reported with these issues ('label': a probably wrong label) out of "
                          "exports, with the issue as the reason (`exclude --undo` takes them back)")
    p.add_argument("--limit", type=int, default=SHOWN, help=f"issues of each kind printed (default {SHOWN}; --json "
                                                            "lists all)")
    add_model_args(p)
    add_as_arg(p)
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    with Collection.open(args.collection) as coll:
        if args.confirm or args.unconfirm:
            return _confirmations(coll, args)
        with lazy_progress("img", args.quiet) as progress:
            found = audit.audit(coll, progress=progress)
            if args.accept:
                return _accept(coll, found, args)
            if args.exclude:
                return _exclude(coll, found, args)
            if args.against is not None:
                found.overlap = audit.against(coll, args.against, lambda: embedder_for(coll, args), args.threshold,
                                              progress)
    if args.json:
        print_json(found.as_dict())
    else:
        _print(found, args.limit)
    return 0


def _accept(coll: Collection, found: AuditReport, args: argparse.Namespace) -> int:
    wanted = labels.resolve(coll, image_refs(args.accept))
    issues = {i.id: i for i in found.label_issues}
    unknown = [str(i) for i in wanted if i not in issues]
    if unknown:
        raise RevsearchError(f"not a label issue now (nothing suggested): {', '.join(unknown[:5])}")
    who = acting_user(args)
    changed = labels.label_each(coll, {i: issues[i].suggested for i in wanted}, source="manual", user=who)
    action = labels.last_action(coll, user=who)
    if args.json:
        print_json({"accepted": len(wanted), "relabelled": changed,
                    "action": action.as_dict() if action is not None else None})
    else:
        print(f"took {len(wanted)} suggestion{'s' if len(wanted) != 1 else ''} ({changed} labels changed); "
              "undo with `label --undo`")
    return 0


def _exclude(coll: Collection, found: AuditReport, args: argparse.Namespace) -> int:
    """One exclude action per issue name asked for, the name as the reason."""
    done: dict[str, int] = {}
    for name in args.exclude:
        ids = ([i.id for i in found.label_issues] if name == "label" else
               [q.id for q in found.quality_issues if name in q.issues])
        done[name] = exclusions.exclude(coll, ids, f"audit: {name.replace('_', ' ')}") if ids else 0
    if args.json:
        print_json({"excluded": done})
    else:
        print("excluded " + ", ".join(f"{n} {name}" for name, n in done.items()) + "; undo with `exclude --undo`")
    return 0


def _confirmations(coll: Collection, args: argparse.Namespace) -> int:
    if args.confirm:
        done = audit.confirm(coll, image_refs(args.confirm))
        data, text = {"confirmed": done}, f"confirmed {done} label{'s' if done != 1 else ''}"
    else:
        removed = audit.unconfirm(coll, image_refs(args.unconfirm))
        data = {"unconfirmed": len(removed)}
        text = f"took back {len(removed)} confirmation{'s' if len(removed) != 1 else ''}"
    if args.json:
        print_json(data)
    else:
        print(text)
    return 0


def _print(found: AuditReport, limit: int) -> None:
    checked = (f", {found.labels_checked:,} checked" if found.labels_checked != found.labelled else "")
    print(f"{found.images:,} images, {found.labelled:,} labelled{checked} ({found.seconds:.1f} s)")
    measured = found.measured.get("measured", 0)
    if measured:
        print(f"took the pixel measures of {measured:,} images indexed before revsearch measured them")
    print(f"\nlabel issues: {len(found.label_issues)}" + (" (most likely wrong first)" if found.label_issues else ""))
    for issue in found.label_issues[:limit]:
        print(f"  {issue.score:.2f}  {issue.label} → {issue.suggested:<16} [{issue.source}] {issue.path}")
    counts = {k: v for k, v in found.issue_counts().items() if k != "label"}
    print(f"\nquality issues: {len(found.quality_issues)}"
          + (" — " + ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else ""))
    for q in found.quality_issues[:limit]:
        print(f"  {', '.join(q.issues):<24} {q.path}" + (f"  (≈ {q.match})" if q.match else ""))
    if found.classes:
        print("\nper label:  images  label issues  quality issues  flagged  sources")
        for c in found.classes:
            sources = ", ".join(f"{k} {v}" for k, v in sorted(c.sources.items()))
            print(f"  {c.label[:20]:<20} {c.images:>6} {c.label_issues:>13} {c.quality_issues:>15} "
                  f"{c.flagged_share:>8.0%}  {sources}")
    if found.overlap is not None:
        print(f"\noverlap: {len(found.overlap)} outside image{'s' if len(found.overlap) != 1 else ''} copy "
              "collection images")
        for o in found.overlap[:limit]:
            print(f"  {o.score:.3f}{' =' if o.exact else '  '} {o.path}  ≈ {o.match}")
    for note in found.notes:
        print(f"note: {note}")
