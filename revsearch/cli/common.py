"""What every command shares: opening a collection with its model, progress bars, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence, TextIO

from tqdm import tqdm

from revsearch.auth.users import clean_name, os_user
from revsearch.collection import Collection
from revsearch.embed import Embedder
from revsearch.embed.embedder import BACKENDS
from revsearch.errors import (CREATE_COLLECTION, MAKE_CLUSTERS, REPLACE_FILE, USE_INPUT, USE_MODEL,
                              USE_PRECISION, RevsearchError)
from revsearch.indexing import pairing
from revsearch.input_modes import DEFAULT_INPUT, INPUT_MODES
from revsearch.precisions import PRECISIONS
from revsearch.progress import Progress


CLI_HINTS = {  # what to do about an error, in the command line's words (revsearch.errors.HINTS)
    USE_MODEL: ". Use --model {model} or a new collection.",
    USE_INPUT: ". Use --input {input} or a new collection.",
    USE_PRECISION: ". Use --precision {precision} or a new collection.",
    CREATE_COLLECTION: "; create one with `revsearch index FOLDER --collection {directory}`",
    MAKE_CLUSTERS: "; run `cluster -k K` (or `--suggest`) first",
    REPLACE_FILE: "; choose another name or use --force to replace it",
}


def error_text(exc: RevsearchError) -> str:
    """An engine error for a terminal: its message, then its hint in the command line's words."""
    return str(exc) + (CLI_HINTS[exc.hint.kind].format(**exc.hint.data) if exc.hint else "")


def add_collection_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", "-c", required=True, metavar="DIR", help="collection directory")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default: the collection's, or the best available)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference engine (auto: ONNX Runtime when it matches PyTorch, else PyTorch)")


def add_input_arg(parser: argparse.ArgumentParser) -> None:
    """How vectors are made: the input handling and the precision of the model's graph."""
    parser.add_argument("--input", choices=INPUT_MODES,
                        help=f"input handling, how the model sees a photo (new collections; default {DEFAULT_INPUT}: "
                             "the letterboxed square plus the whole photo at its own aspect). An existing collection "
                             "keeps its own; a different --input is refused")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="precision of the model's graph (new collections; default: the model's, int8 for "
                             "efficientnet_lite0: quantised ONNX, ~2× faster than fp32). An existing collection "
                             "keeps its own; a different --precision is refused")


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def add_quiet_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def add_as_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="as_user", metavar="NAME",
                        help="who the labelling action is recorded as (exports' labelled_by, the history, undo); "
                             "default: the OS user")


def acting_user(args: argparse.Namespace) -> str:
    """Who a labelling command acts as: `--as NAME`, else the OS user."""
    name = getattr(args, "as_user", None)
    return clean_name(name) if name else os_user()


def embedder_for(coll: Collection, args: argparse.Namespace) -> Embedder:
    """The collection's own model, input handling and precision; a different --model, --input or --precision is
    refused before anything loads."""
    return pairing.embedder_for(coll, getattr(args, "model", None), getattr(args, "input", None),
                                getattr(args, "backend", "auto"), getattr(args, "precision", None))


def image_refs(values: Sequence[str]) -> list[int | str]:
    """Images named on the command line: a number is an image id (unless a file has that name), anything else a
    path."""
    return [int(v) if v.isdigit() and not Path(v).exists() else v for v in values]


def new_input(args: argparse.Namespace) -> str:
    """The input handling of a collection (or shards) made by this command: --input, else the default."""
    return getattr(args, "input", None) or DEFAULT_INPUT


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=None, ensure_ascii=False)
    sys.stdout.write("\n")


LOG_INTERVAL = 5.0  # seconds between progress lines when stderr is not a terminal (a log file, a pipe)


class LogLines:
    """Progress as plain lines for a log: one at most every `interval` seconds (and one when a step's total changes),
    each with done/total, rate and ETA, so a long run into a file or CI log stays a few lines, not thousands."""

    def __init__(self, unit: str, stream: TextIO, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.unit, self.stream, self.interval, self.clock = unit, stream, interval, clock
        self.total = -1
        self.started = self.last = clock()
        self.start_done = 0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = self.clock()
        if total != self.total or done < self.start_done:  # a new step (or phase) begins: its own rate and ETA
            self.total, self.started, self.start_done = total, now, done
        elif now - self.last < self.interval and not (total and done >= total):
            return
        self.last = now
        self.stream.write(self.line(done, total, message, now) + "\n")
        self.stream.flush()

    def line(self, done: int, total: int, message: str, now: float) -> str:
        parts = [f"{done}/{total} {self.unit}" if total else message or "working"]
        elapsed = now - self.started
        if total and elapsed > 0 and done > self.start_done:
            rate = (done - self.start_done) / elapsed
            parts.append(f"{rate:.1f} {self.unit}/s")
            if done < total:
                parts.append(f"ETA {round((total - done) / rate)} s")
        if total and message:
            parts.append(message[-60:])
        return "revsearch: " + " · ".join(parts)


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


@contextmanager
def progress_bar(unit: str = "img", quiet: bool = False) -> Iterator[Progress]:
    """Progress on stderr behind the shared Progress callback: a tqdm bar on a terminal, throttled plain lines
    otherwise (a redrawn bar would write a fragment per update into a log file); nothing when quiet."""
    if not sys.stderr.isatty():
        yield (lambda done, total, message: None) if quiet else LogLines(unit, sys.stderr)
        return
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
