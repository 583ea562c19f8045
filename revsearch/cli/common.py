"""What every command shares: opening a collection with its model, progress bars, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

from revsearch.collection import Collection
from revsearch.embed import Embedder
from revsearch.embed.embedder import BACKENDS
from revsearch.progress import Progress


def add_collection_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", "-c", required=True, metavar="DIR", help="collection directory")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default: the collection's, or the best available)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference engine (auto: ONNX Runtime when it matches PyTorch, else PyTorch)")


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def embedder_for(coll: Collection, args: argparse.Namespace) -> Embedder:
    """The collection's own model; a different --model is refused before anything loads."""
    if getattr(args, "model", None) and args.model != coll.model:
        coll.check_model(args.model, coll.fingerprint)
    embedder = Embedder(coll.model, backend=getattr(args, "backend", "auto"))
    coll.check_model(embedder.name, embedder.fingerprint)
    return embedder


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=None, ensure_ascii=False)
    sys.stdout.write("\n")


@contextmanager
def progress_bar(unit: str = "img", quiet: bool = False) -> Iterator[Progress]:
    """A tqdm bar on stderr behind the shared Progress callback (silent when stderr is not a terminal and quiet)."""
    bar = tqdm(total=0, unit=unit, file=sys.stderr, disable=quiet, dynamic_ncols=True, leave=False)

    def update(done: int, total: int, message: str) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.set_postfix_str(message[-40:], refresh=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
