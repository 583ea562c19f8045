"""The engine's commands: index, search, info, models."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from revsearch import images
from revsearch.adding import add_images
from revsearch.cli.common import (add_collection_arg, add_input_arg, add_json_arg, add_model_args, add_quiet_arg,
                                  embedder_for, new_embedder, print_json, progress_bar)
from revsearch.cli.scale import add_ray_args, batch_source
from revsearch.collection import Collection, IndexReport
from revsearch.collection.catalog import SCHEMA_VERSION
from revsearch.embed import REGISTRY, default_model
from revsearch.embed.models import find_resnet50_weights, WeightsUnavailable
from revsearch.errors import RevsearchError
from revsearch.regions import Box, crop, parse_box
from revsearch.search import METRICS, Searcher, combine_queries, load_query_vectors, search_vectors

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
    folder = args.folder.expanduser()
    if not folder.is_dir():
        raise RevsearchError(f"folder not found: {folder}" if not folder.exists() else f"not a folder: {folder}")
    if Collection.exists(args.collection):
        coll = Collection.open(args.collection)
        embedder = embedder_for(coll, args)
    else:
        name, why = (args.model, "chosen with --model") if args.model else default_model()
        print(f"model: {name} — {why}", file=sys.stderr)
        embedder = new_embedder(name, args)
        coll = Collection.create(args.collection, embedder.name, embedder.fingerprint, embedder.dim,
                                 vector_dtype="float16" if args.float16 else "float32", input_mode=embedder.input_mode,
                                 precision=embedder.precision)
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
        return search_feedback(args)
    if bool(args.images) == bool(args.embedding):
        raise RevsearchError("give query IMAGEs, --embedding FILE.npy or --positive IMAGE… (one of them)")
    if args.embedding:
        if args.crop:
            raise RevsearchError("--crop applies to query images, not to --embedding vectors")
        return search_embeddings(args)
    box = parse_box(args.crop) if args.crop else None
    coll = Collection.open(args.collection)
    with coll:
        searcher = Searcher(coll, embedder_for(coll, args))
        decoded, failed = [], {}
        for n, path in enumerate(args.images):
            img = _query_image(path, box, searcher.embedder.input_size)
            if isinstance(img, str):
                failed[n] = img
                print(f"revsearch: error: cannot use {path} as a query: {img}", file=sys.stderr)
            else:
                decoded.append(img)
        hits = (searcher.by_images(decoded, k=args.k, metric=args.metric, combine=args.combine, space=_space(args))
                if decoded else [])
    if args.combine:
        out = [{"query": [str(p) for p in args.images], "results": [h.as_dict() for h in (hits[0] if hits else [])]}]
    else:
        ok = iter(hits)
        out = [{"query": str(p), "results": [], "error": failed[n]} if n in failed
               else {"query": str(p), "results": [h.as_dict() for h in next(ok)]} for n, p in enumerate(args.images)]
    print_hits(out, args.json)
    return 1 if failed else 0


def search_embeddings(args: argparse.Namespace) -> int:
    """Queries given as vectors, labelled FILE#ROW, in the same output shape as image queries."""
    coll = Collection.open(args.collection)
    with coll:
        queries = load_query_vectors(args.embedding, coll.dim)
        labels = [f"{args.embedding}#{n}" for n in range(len(queries))]
        hits = search_vectors(coll, combine_queries(queries) if args.combine else queries, args.k, args.metric,
                              space=_space(args))
    if args.combine:
        out = [{"query": labels, "results": [h.as_dict() for h in hits[0]]}]
    else:
        out = [{"query": label, "results": [h.as_dict() for h in row]} for label, row in zip(labels, hits)]
    print_hits(out, args.json)
    return 0


def search_feedback(args: argparse.Namespace) -> int:
    """"More like these, less like those": one result list, scored by similarity to the positives minus a weight
    times similarity to the negatives (Rocchio)."""
    if not args.positive:
        raise RevsearchError("--negative goes with --positive IMAGE…")
    if args.images or args.embedding or args.crop or args.combine or args.metric != "cosine":
        raise RevsearchError("--positive/--negative take no other query, --crop, --combine or --metric")
    with Collection.open(args.collection) as coll:
        searcher = Searcher(coll, embedder_for(coll, args))
        hits = searcher.by_feedback(args.positive, args.negative, k=args.k, space=_space(args))
    print_hits([{"query": {"positive": [str(p) for p in args.positive], "negative": [str(p) for p in args.negative]},
                 "results": [h.as_dict() for h in hits]}], args.json)
    return 0


def _space(args: argparse.Namespace) -> str:
    return "raw" if args.raw else "learned"


def print_hits(out: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(out)
    else:
        for entry in out:
            print(f"{entry['query']}:" + (f" error: {entry['error']}" if "error" in entry else ""))
            for rank, hit in enumerate(entry["results"], 1):
                print(f"  {rank:>3}. {hit['score']:.4f}  {hit['path']}")


def _query_image(path: Path, box: Box | None, size: int) -> Image.Image | str:
    """The decoded query (its region when `box`), or why it cannot be used."""
    if box is None:
        img = images.load_image(path, target=size)
        return img.reason if isinstance(img, images.Skip) else img
    img = images.load_image(path, target=None)
    if isinstance(img, images.Skip):
        return img.reason
    try:
        return crop(img, box)
    except RevsearchError as exc:
        return str(exc)


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
        if name == "resnet50":
            try:
                available = find_resnet50_weights() is not None
            except WeightsUnavailable:
                available = False
        else:
            available = True
        rows.append({"name": name, "dim": entry.spec.dim, "description": entry.spec.description,
                     "needs": entry.spec.needs, "available_offline": available, "default": name == chosen,
                     "precision": entry.spec.precision})
    if args.json:
        print_json({"default": chosen, "why": why, "models": rows})
        return 0
    for row in rows:
        mark = "*" if row["default"] else " "
        print(f"{mark} {row['name']:<20} {row['description']}\n    needs: {row['needs']}")
    print(f"default for new collections: {why}")
    return 0
