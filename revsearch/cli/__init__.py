"""Command line: `revsearch <command> …` (or `python -m revsearch …`).

Each command group lives in its own module with a `register`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from revsearch.cli import audit, clusters, dataset, duplicates, engine, labels, learn, maps, montage, quality, scale, users
from revsearch.cli.common import error_text
from revsearch.errors import RevsearchError

COMMAND_MODULES = (engine, scale, quality, clusters, maps, labels, duplicates, montage, learn, dataset, audit, users)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revsearch", description="Reverse image search over a folder.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and a non-zero exit, never a traceback.

    Also the `revsearch` console script: its generated wrapper calls `sys.exit(main())`, so the return is the exit code.
    """
    logging.basicConfig(level=logging.WARNING, format="revsearch: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except RevsearchError as exc:
        print(f"revsearch: error: {error_text(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `revsearch … | head` closed the pipe: the reader has what it wanted, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    except (OSError, ValueError) as exc:
        print(f"revsearch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("revsearch: interrupted; committed batches are kept, run again to resume", file=sys.stderr)
        return 130
