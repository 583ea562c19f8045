#!/usr/bin/env python3
"""Pipeline tuning experiments behind BENCHMARKS.md's profile (not part of the bench run).

Variants of `index_folder` on the bench's cached 640×480 and 12 MP inputs, run interleaved (A B C A B C …) so drift
hits every variant alike; each run records how many cores other processes used meanwhile, and runs disturbed by more
than --max-load cores are dropped. Variants change only knobs reachable without editing the engine:
decode workers and batch size (embed_stream), ONNX Runtime intra-op threads and spin-waiting (session options).

    .venv/bin/python benchmarks/pipeline_experiments.py [--kind vga|mp12] [--reps 3] [--images 64]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchsuite.inputs import DEFAULT_DATASET, dataset_rows, default_work_dir, link, make_inputs  # noqa: E402
from benchsuite.measure import CpuMeter, Log  # noqa: E402
from revsearch.collection import Collection  # noqa: E402
from revsearch.embed import Embedder  # noqa: E402
from revsearch.indexing import index_folder, pipeline, sync  # noqa: E402


def session(embedder: Embedder, threads: int, spin: bool):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(str(embedder.onnx_path()), opts, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="vga", choices=("vga", "mp12"))
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-load", type=float, default=0.3)
    ap.add_argument("--variants", default="base,w1,w3,nospin,nospin-w1,b16,b64")
    ap.add_argument("--model-only", action="store_true")
    ap.add_argument("--v0", help="a pipeline.py to compare against (variant part 'v0')")
    ap.add_argument("--new", help="a candidate pipeline.py (variant part 'new')")
    args = ap.parse_args()

    embedder = Embedder("efficientnet_lite0")
    meter = CpuMeter()
    log = Log(False)
    if args.model_only:
        return model_only(embedder, meter, args)
    rows = dataset_rows(DEFAULT_DATASET)
    files = make_inputs(args.kind, args.images, rows, default_work_dir(), log)
    tmp = Path(tempfile.mkdtemp(prefix="rs-exp-"))
    folder = tmp / "photos"
    folder.mkdir()
    for p in files:
        link(p, folder / p.name)
        p.read_bytes()
    base_session = embedder._ort
    original_stream = sync.embed_stream
    streams = {"cur": original_stream}
    for tag, path in (("v0", args.v0), ("new", args.new)):
        if path:
            import importlib.util

            spec = importlib.util.spec_from_file_location(f"pipeline_{tag}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            streams[tag] = module.embed_stream
    sessions = {}

    def configure(name: str) -> None:
        workers, batch, spin, threads, stream, extra = None, 32, True, None, streams["cur"], {}
        for part in name.split("-"):
            if part in streams:
                stream = streams[part]
            elif part.startswith("m") and part[1:].isdigit():
                extra["min_batch"] = int(part[1:])
            if part.startswith("w") and part[1:].isdigit():
                workers = int(part[1:])
            elif part.startswith("b") and part[1:].isdigit():
                batch = int(part[1:])
            elif part == "nospin":
                spin = False
            elif part.startswith("t") and part[1:].isdigit():
                threads = int(part[1:])
        if spin and threads is None:
            embedder._ort = base_session
        else:
            key = (threads or 2, spin)
            if key not in sessions:
                sessions[key] = session(embedder, *key)
            embedder._ort = sessions[key]
        sync.embed_stream = functools.partial(stream, workers=workers, batch_size=batch, **extra)

    variants = args.variants.split(",")
    results: dict[str, list[float]] = {v: [] for v in variants}
    dropped: dict[str, int] = {v: 0 for v in variants}
    n = 0
    for rep in range(args.reps + 1):  # the first round is a warm-up
        for v in variants:
            configure(v)
            directory = tmp / f"c{n}"
            n += 1
            with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim) as coll:
                a = meter.snap()
                t = time.perf_counter()
                report = index_folder(coll, folder, embedder)
                coll.index()
                dt = time.perf_counter() - t
                load = meter.foreign(a, meter.snap())
            shutil.rmtree(directory)
            assert report.indexed == len(files), report.as_dict()
            if rep == 0:
                continue
            if load > args.max_load:
                dropped[v] += 1
                log(f"{v}: dropped ({load:.2f} cores used by others)")
                continue
            results[v].append(len(files) / dt)
            log(f"{v}: {len(files) / dt:.1f} img/s (others {load:.2f})")
    sync.embed_stream = original_stream
    print(f"\n{args.kind}, {len(files)} images; img/s median (runs kept / dropped)")
    for v in variants:
        vals = results[v]
        med = statistics.median(vals) if vals else float("nan")
        print(f"  {v:12s} {med:6.1f}   {[round(x, 1) for x in vals]}  dropped {dropped[v]}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def model_only(embedder: Embedder, meter, args) -> int:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(64, 224, 224, 3), dtype=np.uint8)
    configs = [(2, True), (2, False), (1, True)]
    for threads, spin in configs:
        sess = session(embedder, threads, spin)
        for bs in (1, 8, 16, 32, 64):
            x = batch[:bs]
            sess.run(None, {"images": x})
            reps = max(2, 64 // bs)
            times, loads = [], []
            for _ in range(args.reps * 4):
                a = meter.snap()
                t = time.perf_counter()
                for _ in range(reps):
                    sess.run(None, {"images": x})
                dt = time.perf_counter() - t
                load = meter.foreign(a, meter.snap())
                loads.append(round(load, 2))
                if load <= args.max_load:
                    times.append(reps * bs / dt)
                if len(times) >= args.reps:
                    break
            med = statistics.median(times) if times else float("nan")
            print(f"threads {threads} spin {int(spin)} batch {bs:3d}: {med:6.1f} img/s  ({len(times)} clean runs; "
                  f"others' load {loads})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
