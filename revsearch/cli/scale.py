"""Commands and options beyond one machine: `--ray` for index/embed, `embed` to Parquet shards, `ingest` shards.

Ray and pyarrow are imported only inside these commands, so every other command starts as fast as before."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Iterator

from revsearch.cli.common import (add_collection_arg, add_input_arg, add_json_arg, add_model_args, add_quiet_arg,
                                  new_input, print_json, progress_bar)
from revsearch.indexing.sync import BatchSource, local_source
from revsearch.embed import Embedder, default_model
from revsearch.errors import RevsearchError
from revsearch.input_modes import INPUT_MODES
from revsearch.files import existing_folder, walk_files


def add_ray_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray (decode + embed on a cluster; see docs/scale.md)")
    group.add_argument("--ray", metavar="ADDRESS", help="'local' (a Ray on this machine), 'auto' ($RAY_ADDRESS) or "
                                                       "the address of a running Ray cluster")
    group.add_argument("--actors", type=int, help="model actors (default: fill the cluster)")
    group.add_argument("--cpus-per-actor", type=float, help="CPUs each actor reserves (default 1)")
    group.add_argument("--gpus-per-actor", type=float,
                       help="GPUs each actor reserves (default: 1 when the cluster has GPUs, else 0)")


@contextmanager
def batch_source(args: argparse.Namespace, embedder: Embedder) -> Iterator[BatchSource | None]:
    """The Ray batch source for the run when --ray is given (connected for the run's duration), else None."""
    if not getattr(args, "ray", None):
        yield None
        return
    from revsearch.distributed import ray_index

    # Ray prints worker events ("(raylet) A worker died…") on stdout; stdout belongs to the command's own output
    with redirect_stdout(sys.stderr), ray_index.ray_cluster(args.ray) as resources:
        p = ray_index.plan(resources, args.actors, args.cpus_per_actor, args.gpus_per_actor)
        ray_index.check_fits(p, resources)
        print(f"ray: {p.actors} actor(s) × {p.cpus_per_actor:g} CPU" +
              (f" + {p.gpus_per_actor:g} GPU" if p.gpus_per_actor else "") +
              f" on a cluster of {resources.get('CPU', 0):g} CPU / {resources.get('GPU', 0):g} GPU", file=sys.stderr)
        yield ray_index.ray_source(embedder, args.batch_size, p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed a folder into Parquet shards (no collection; see docs/scale.md)")
    p.add_argument("folder", type=Path)
    p.add_argument("--out", required=True, type=Path, metavar="SHARDS", help="folder for shard-NNNNN.parquet files")
    add_model_args(p)
    add_input_arg(p)
    add_json_arg(p)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rows-per-shard", type=int, default=10_000)
    add_quiet_arg(p)
    add_ray_args(p)
    p.set_defaults(run=cmd_embed)

    p = sub.add_parser("ingest", help="add Parquet embedding shards (from revsearch or any tool) to a collection")
    p.add_argument("shards", type=Path, metavar="SHARDS", help="a .parquet file or a folder of them")
    add_collection_arg(p)
    p.add_argument("--model", help="vouch for shards that record no revsearch.model (made with this model and the "
                                   "weights this machine has)")
    p.add_argument("--input", choices=INPUT_MODES,
                   help="vouch for shards that record no revsearch.input (default: letterbox, what they were made "
                        "with before input handling was a choice)")
    p.add_argument("--index-memory", metavar="SIZE",
                   help="memory budget of the search index build at the end, e.g. 4G (default 4G; remembered by the "
                        "collection); the whole command stays within it + 1 GB")
    add_json_arg(p)
    add_quiet_arg(p)
    p.set_defaults(run=cmd_ingest)


def cmd_embed(args: argparse.Namespace) -> int:
    from revsearch.distributed.ingest import shards_model
    from revsearch.distributed.shards import ShardWriter, shard_files, written_entries

    root = existing_folder(args.folder)
    if args.rows_per_shard < 1:
        raise RevsearchError("--rows-per-shard must be at least 1")
    out = args.out.expanduser().resolve()
    made = shards_model(shard_files(out), None) if out.is_dir() and shard_files(out) else None
    for given, recorded, what in ((args.input, 2, "input handling"), (args.precision, 3, "precision")):
        if made is not None and given and given != made[recorded]:
            raise RevsearchError(f"{out} holds shards made with {what} {made[recorded]!r}; drop that option or use "
                                 "another --out")
    embedder = Embedder(args.model or default_model()[0], backend=args.backend,
                        input_mode=made[2] if made is not None else new_input(args),
                        precision=made[3] if made is not None else args.precision)
    if made is not None and made[:2] != (embedder.name, embedder.fingerprint):
        raise RevsearchError(f"{out} holds shards of {made[0]} ({made[1][:12]}…); use another --out")
    done = written_entries(out)
    todo, unchanged = [], 0
    for path in walk_files(root):
        try:
            st = path.stat()
        except OSError:
            todo.append((path, -1, -1))
            continue
        if done.get(str(path)) == (st.st_size, st.st_mtime_ns):
            unchanged += 1
        else:
            todo.append((path, st.st_size, st.st_mtime_ns))
    writer = ShardWriter(out, embedder.name, embedder.fingerprint, embedder.dim, embedder.input_mode,
                         embedder.precision, rows_per_shard=args.rows_per_shard)
    started, embedded, skipped = time.perf_counter(), 0, 0
    with progress_bar(quiet=args.quiet) as progress, batch_source(args, embedder) as source:
        for batch in (source or local_source(embedder, args.batch_size))(todo, frozenset()):
            writer.add(batch)
            embedded += sum(1 for item in batch if item.vector is not None)
            skipped += sum(1 for item in batch if item.vector is None)
            progress(embedded + skipped, len(todo), batch[-1].loaded.path.name)
        writer.close()
    seconds = time.perf_counter() - started
    summary = {"out": str(out), "model": embedder.name, "fingerprint": embedder.fingerprint,
               "input": embedder.input_mode, "precision": embedder.precision,
               "shards_written": [str(p) for p in writer.written], "embedded": embedded,
               "skipped": skipped, "unchanged": unchanged, "seconds": round(seconds, 3)}
    if args.json:
        print_json(summary)
    else:
        print(f"embedded {embedded} · skipped {skipped} · unchanged {unchanged} → {len(writer.written)} new shard(s) "
              f"in {out} ({seconds:.1f} s)")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from revsearch.distributed.ingest import ingest_shards, open_for, shards_model
    from revsearch.distributed.shards import shard_files

    files = shard_files(args.shards)
    coll = open_for(args.collection, shards_model(files, args.model, args.input), files)
    with coll, progress_bar(unit="row", quiet=args.quiet) as progress:
        coll.set_index_memory(args.index_memory)
        result = ingest_shards(coll, files, progress)
        coll.index()
    if args.json:
        print_json({"collection": str(coll.directory), "model": coll.model, **result.as_dict()})
    else:
        print(f"ingested {result.rows} rows from {result.shards} shard(s): indexed {result.indexed} · updated "
              f"{result.updated} · unchanged {result.unchanged} · skipped {len(result.skipped)} · duplicates "
              f"{len(result.duplicates)} ({result.seconds:.1f} s)")
    return 0
