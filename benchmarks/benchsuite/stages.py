"""Benchmark stages run in child processes of their own, so each stage's start-up and peak RSS (VmHWM) are its own.

A program lists its stages in a dict name -> function(args) -> dict; the parent runs `run_child` per stage, the child
(started with the hidden `--stage NAME`) runs the function and prints its result as the last line of JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping

Stage = Callable[[argparse.Namespace], dict]


def add_stage_argument(parser: argparse.ArgumentParser, stages: Mapping[str, Stage]) -> None:
    parser.add_argument("--stage", choices=stages, help=argparse.SUPPRESS)


def run_if_child(args: argparse.Namespace, stages: Mapping[str, Stage]) -> bool:
    """In a stage's child process: run the stage, print its result as JSON and say so (the caller then exits)."""
    if not args.stage:
        return False
    print(json.dumps(stages[args.stage](args)))
    return True


def run_child(script: str, name: str, argv: list[str], tag: str, env: dict | None = None,
              cwd: Path | None = None) -> dict:
    """Run stage `name` of `script` in a child process; its `[tag]` progress lines pass through, a failure stops."""
    print(f"[{tag}] {name} …", file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, script, "--stage", name, *argv], capture_output=True, text=True, env=env,
                         cwd=cwd)
    progress = [line for line in out.stderr.splitlines() if line.startswith(f"[{tag}]")]
    if progress:
        sys.stderr.write("\n".join(progress) + "\n")
    if out.returncode:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"stage {name} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])
