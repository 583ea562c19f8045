"""`eval`: leave-one-out retrieval quality of labelled images (ImageFolder layout or a path,label CSV)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from revsearch.cli.common import add_input_arg, add_json_arg, add_model_args, add_quiet_arg, print_json, progress_bar
from revsearch.errors import RevsearchError
from revsearch.evaluate import labels_from_csv, labels_from_folder, retrieval_metrics
from revsearch.indexing import index_files
from revsearch.indexing.pairing import open_or_create


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="retrieval quality (mAP, P@k, recall@k, N-S) on labelled images")
    p.add_argument("source", type=Path, metavar="FOLDER|labels.csv",
                   help="ImageFolder layout (label/file) or a CSV with path,label columns")
    p.add_argument("--collection", "-c", metavar="DIR", help="index into / reuse this collection (default: temporary)")
    add_model_args(p)
    add_input_arg(p)
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    source = args.source.expanduser()
    if source.is_dir():
        labels = labels_from_folder(source)
    elif source.is_file():
        labels = labels_from_csv(source)
    else:
        raise RevsearchError(f"not found: {source}")
    with tempfile.TemporaryDirectory(prefix="revsearch-eval-") as tmp:
        coll, embedder, _ = open_or_create(args.collection or Path(tmp) / "eval", args.model, args.input,
                                           args.backend, precision=args.precision)
        with coll, progress_bar(quiet=args.quiet) as progress:
            index_files(coll, sorted(labels), embedder, progress=progress)
            by_path = {r.path: r.id for r in coll.rows("indexed") if r.path in labels}
            ids, vectors = coll.vectors(sorted(by_path.values()))
            paths = coll.paths(ids.tolist())
            metrics = retrieval_metrics(vectors, [labels[paths[int(i)]] for i in ids])
    metrics = {"model": embedder.name, "backend": embedder.backend, "input": coll.input_mode,
               "precision": coll.precision, **metrics,
               "not_evaluated": len(labels) - len(ids)}
    if args.json:
        print_json({k: (round(float(v), 6) if isinstance(v, float) else v) for k, v in metrics.items()})
    else:
        for key, value in metrics.items():
            print(f"{key:<14} {value:.4f}" if isinstance(value, float) else f"{key:<14} {value}")
    return 0
