"""The engine's commands: index, search, info, models."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from revsearch.cli.common import (add_collection_arg, add_input_arg, add_json_arg, add_model_args, add_quiet_arg,
                                  print_json, progress_bar)
from revsearch.cli.scale import add_ray_args, batch_source
from revsearch.collection import Collection
from revsearch.collection.catalog import SCHEMA_VERSION
from revsearch.embed import REGISTRY, default_model
from revsearch.errors import RevsearchError
from revsearch.files import existing_folder
from revsearch.indexing import IndexReport
from revsearch.indexing.adding import add_images
from revsearch.indexing.pairing import open_or_create
from revsearch.search import METRICS, Query, run_query

LIST_LIMIT = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="index a folder into a collection (incremental)")
    p.add_argument("folder", type=Path)
    add_collection_arg(p)
    add_model_args(p)
    add_input_arg(p)
    add_json_arg(p)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--float16", action="store_true", help="store vectors as float16 (new collections; half the size)")
    p.add_argument("--prepare", action="store_true",
                   help="also make thumbnails, clusters and the map, as the app does (slow on large folders)")
    p.add_argument("--prune", action="store_true",
                   help="delete for good the images under FOLDER whose files are missing (with their labels)")
    p.add_argument("--index-memory", metavar="SIZE",
                   help="memory budget of the search index build, e.g. 4G (default 4G; remembered by the collection)")
    add_quiet_arg(p)
    add_ray_args(p)
    p.set_defaults(run=cmd_index)

    p = sub.add_parser("search", help="find the images most similar to query images")
    p.add_argument("images", nargs="*", type=Path, metavar="IMAGE")
    p.add_argument("--embedding", type=Path, metavar="FILE.npy",
                   help="query with raw vectors instead of images (1-D or 2-D float .npy; no model is loaded)")
    add_collection_arg(p)
    add_model_args(p)
    add_json_arg(p)
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--metric", choices=METRICS, default="cosine")
    p.add_argument("--combine", action="store_true", help="one query from the mean of all query images")
    p.add_argument("--crop", metavar="X,Y,W,H",
                   help="search with this region of each query image (pixels of the original image)")
    p.add_argument("--raw", action="store_true",
                   help="search the pretrained vectors, not the space learned from the labels (`learn`)")
    p.add_argument("--positive", nargs="+", type=Path, metavar="IMAGE",
                   help="relevance feedback: more like these (indexed or not)")
    p.add_argument("--negative", nargs="+", type=Path, default=[], metavar="IMAGE",
                   help="with --positive: less like these")
    p.set_defaults(run=cmd_search)

    p = sub.add_parser("info", help="what a collection holds")
    add_collection_arg(p)
    add_json_arg(p)
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("models", help="the models revsearch knows and what each needs")
    add_json_arg(p)
    p.set_defaults(run=cmd_models)


def cmd_index(args: argparse.Namespace) -> int:
    folder = existing_folder(args.folder)
    coll, embedder, created = open_or_create(args.collection, args.model, args.input, args.backend,
                                             vector_dtype="float16" if args.float16 else "float32",
                                             precision=args.precision)
    if created:
        print(f"model: {embedder.name} — {'chosen with --model' if args.model else default_model()[1]}",
              file=sys.stderr)
    with coll, progress_bar(quiet=args.quiet) as progress, batch_source(args, embedder) as batches:
        coll.set_index_memory(args.index_memory)
        added = add_images(coll, folder, embedder, phases=lambda phase: progress, prepare=args.prepare,
                           batch_size=args.batch_size, batches=batches, prune=args.prune)
    result = added.report
    if args.json:
        prepared = {"prepared": added.prepared} if args.prepare else {}
        print_json({"collection": str(coll.directory), "model": coll.model, "backend": embedder.backend,
                    "precision": coll.precision, **result.as_dict(), **prepared})
        for warning in result.warnings:
            print(f"revsearch: warning: {warning}", file=sys.stderr)
    else:
        print_report(result)
        if args.prepare:
            print("prepared: " + (" · ".join(f"{k} {v}" for k, v in added.prepared.items()) or "nothing to prepare"))
    return 0


def print_report(result: IndexReport) -> None:
    print(f"indexed {result.indexed} · updated {result.updated} · unchanged {result.unchanged} · "
          f"removed {result.removed} · skipped {len(result.skipped)} · duplicates {len(result.duplicates)}  "
          f"({result.scanned} files in {result.seconds:.1f} s, {result.throughput:.1f} img/s)")
    print(f"missing {result.missing} (kept; `--prune` deletes them) · found again {result.restored} · "
          f"moved {len(result.moves)}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.moves:
        print("moved (same content, labels kept, not re-embedded):")
        for old, new in result.moves[:LIST_LIMIT]:
            print(f"  {old} -> {new}")
        _more(len(result.moves))
    if result.skipped:
        print("skipped:")
        for path, reason in result.skipped[:LIST_LIMIT]:
            print(f"  {path}: {reason}")
        _more(len(result.skipped))
    if result.duplicates:
        print("duplicates (same content, embedded once):")
        for path, original in result.duplicates[:LIST_LIMIT]:
            print(f"  {path} = {original}")
        _more(len(result.duplicates))


def _more(n: int) -> None:
    if n > LIST_LIMIT:
        print(f"  … and {n - LIST_LIMIT} more (see `info --json`)")


def cmd_search(args: argparse.Namespace) -> int:
    if args.positive or args.negative:
        if not args.positive:
            raise RevsearchError("--negative goes with --positive IMAGE…")
        if args.images or args.embedding or args.crop or args.combine or args.metric != "cosine":
            raise RevsearchError("--positive/--negative take no other query, --crop, --combine or --metric")
    elif bool(args.images) == bool(args.embedding):
        raise RevsearchError("give query IMAGEs, --embedding FILE.npy or --positive IMAGE… (one of them)")
    elif args.embedding and args.crop:
        raise RevsearchError("--crop applies to query images, not to --embedding vectors")
    answers, unusable = run_query(args.collection, Query(
        images=args.images, embedding=args.embedding, positive=args.positive or [], negative=args.negative,
        crop=args.crop, k=args.k, metric=args.metric, combine=args.combine, space="raw" if args.raw else "learned",
        model=args.model, backend=args.backend))
    for path, reason in unusable:
        print(f"revsearch: error: cannot use {path} as a query: {reason}", file=sys.stderr)
    print_hits([answer.as_dict() for answer in answers], args.json)
    return 1 if unusable else 0


def print_hits(out: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(out)
    else:
        for entry in out:
            print(f"{entry['query']}:" + (f" error: {entry['error']}" if "error" in entry else ""))
            for rank, hit in enumerate(entry["results"], 1):
                print(f"  {rank:>3}. {hit['score']:.4f}  {hit['path']}")


def cmd_info(args: argparse.Namespace) -> int:
    coll = Collection.open(args.collection)
    with coll:
        counts = coll.counts()
        skipped = [{"path": r.path, "reason": r.reason} for r in coll.rows("skipped")]
        duplicates = [{"path": r.path, "duplicate_of": r.duplicate_of} for r in coll.rows("duplicate")]
        index = coll.index()
        index_info = coll.index_info()
        data = {
            "collection": str(coll.directory), "model": coll.model, "fingerprint": coll.fingerprint, "dim": coll.dim,
            "input": coll.input_mode, "precision": coll.precision,
            "schema_version": SCHEMA_VERSION, "generation": coll.generation,
            "vector_dtype": coll.vector_dtype.name, "counts": counts,
            "index": {**asdict(index_info), "type": type(index).__name__,
                      "mb_per_million_vectors": round(index_info.bytes_per_vector, 1)},
            "skipped": skipped, "duplicates": duplicates,
        }
    if args.json:
        print_json(data)
        return 0
    print(f"collection {data['collection']}")
    print(f"model      {data['model']} ({data['dim']}-d, weights {data['fingerprint'][:12]}, input {data['input']}, "
          f"{data['precision']})")
    recall = "" if index_info.recall_at_10 is None else f", recall@10 {index_info.recall_at_10:.3f} vs exact"
    print(f"index      {index_info.kind} over {index_info.ntotal} vectors{recall}, "
          f"{index_info.bytes_per_vector:.0f} MB per million vectors")
    print(f"images     {counts['indexed']} indexed · {counts['skipped']} skipped · {counts['duplicate']} duplicates"
          f" · {counts['missing']} missing")
    if skipped:
        print("skip reasons:")
        for reason, n in Counter(_reason_kind(s["reason"]) for s in skipped).most_common():
            print(f"  {n:>5} × {reason}")
    return 0


def _reason_kind(reason: str | None) -> str:
    return (reason or "unknown").split(":")[0]


def cmd_models(args: argparse.Namespace) -> int:
    chosen, why = default_model()
    rows = []
    for name, entry in REGISTRY.items():
        rows.append({"name": name, "dim": entry.spec.dim, "description": entry.spec.description,
                     "needs": entry.spec.needs, "available_offline": entry.offline(), "default": name == chosen,
                     "precision": entry.spec.precision})
    if args.json:
        print_json({"default": chosen, "why": why, "models": rows})
        return 0
    for row in rows:
        mark = "*" if row["default"] else " "
        print(f"{mark} {row['name']:<20} {row['description']}\n    needs: {row['needs']}")
    print(f"default for new collections: {why}")
    return 0
