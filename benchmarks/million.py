#!/usr/bin/env python3
"""A million images in one collection (issue 11, points 3 and 4; issue 17, points 3 and 4): `revsearch ingest` of
Parquet shards with its index build, whole process under /usr/bin/time -v; open; raw-vector search; learned search
after `learn`; and a simulated N-node indexing scaling table.

    .venv/bin/python benchmarks/million.py --n 1000000 --dir /tmp/million --out BENCHMARKS.md
    .venv/bin/python benchmarks/million.py --n 100000 --dir /tmp/m100k --out /tmp/m.md     # development size
    .venv/bin/python benchmarks/million.py --from-json BENCHMARKS-million.json --node-rate 90 --out BENCHMARKS.md

Vectors are synthetic (no image is decoded): benchsuite.inputs.VectorGen, 1280-d like efficientnet_lite0 — n/500
clusters grouped under super-clusters, each cluster a rank-16 Gaussian plus isotropic noise, L2-normalised, uneven
cluster sizes. Nearest neighbours are same-cluster points close in the cluster's subspace, as with real CNN features;
real photo collections have more near-duplicates and a smoother spread, so recall at a given nprobe may differ.
Queries are fresh points from the same generator (held out: not in the collection).

Each stage runs in a child process of its own so its peak RSS (VmHWM) is its own; the ingest is the CLI command in a
process of its own, measured whole. The learned stage labels LABELS_PER_CLASS images of each of CLASSES classes
(super-cluster modulo CLASSES: every class spread over many clusters, as "shoes" spread over many looks), runs
`learn`, and compares one learned-space `search_vectors` per held-out query with an exact learned search (every vector
through the head). The collection, its shards and its labels are deleted at the end unless --keep. Not a test:
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchsuite import stages  # noqa: E402
from benchsuite.sections import write_section  # noqa: E402

DIM = 1280
BATCH = 10_000
ROWS_PER_SHARD = 50_000
CLASSES = 20  # the learned stage's labels: super-cluster modulo CLASSES (each class spread over the space)
LABELS_PER_CLASS = 50


def hwm_mb() -> float:
    from benchsuite.measure import hwm_mb as hwm

    return hwm()


def generator(n: int):
    from benchsuite.inputs import VectorGen

    return VectorGen(DIM, n_clusters=max(8, n // 500), seed=11)


def shards_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir + ".shards")


def stage_shards(args: argparse.Namespace) -> dict:
    """The n vectors as Parquet shards of ROWS_PER_SHARD rows (what `revsearch embed` writes), and each row's class
    (its super-cluster modulo CLASSES) for the learned stage."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from revsearch.distributed.shards import FINGERPRINT_KEY, INPUT_KEY, MODEL_KEY, PRECISION_KEY

    gen = generator(args.n)
    out = shards_dir(args)
    out.mkdir(parents=True)
    meta = {MODEL_KEY: b"efficientnet_lite0", FINGERPRINT_KEY: b"synthetic", INPUT_KEY: b"letterbox+native",
            PRECISION_KEY: b"int8"}
    fields = [pa.field("path", pa.string(), nullable=False), pa.field("embedding", pa.list_(pa.float32(), DIM)),
              pa.field("sha256", pa.string()), pa.field("size", pa.int64()), pa.field("mtime_ns", pa.int64())]
    schema = pa.schema(fields, metadata=meta)
    classes = np.empty(args.n, np.int16)
    rng = np.random.default_rng(5)
    buf = np.empty((BATCH, DIM), dtype=np.float32)
    writer = None
    started = time.perf_counter()
    for start in range(0, args.n, BATCH):
        if start % ROWS_PER_SHARD == 0:
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(out / f"shard-{start // ROWS_PER_SHARD:05d}.parquet", schema)
        m = min(BATCH, args.n - start)
        clusters = gen.fill(buf[:m], seed=1000 + start)
        order = rng.permutation(m)
        classes[start : start + m] = gen.parent[clusters[order]] % CLASSES
        rows = range(start, start + m)
        writer.write_table(pa.table({
            "path": [f"/photos/{i // 1000:04d}/{i:07d}.jpg" for i in rows],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(buf[:m][order].ravel()), DIM),
            "sha256": [f"{i:064x}" for i in rows], "size": [200_000] * m,
            "mtime_ns": [1_700_000_000_000_000_000 + i for i in rows]}, schema=schema))
    writer.close()
    np.save(Path(args.dir + ".classes.npy"), classes)
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"seconds": time.perf_counter() - started, "gb": size / 2**30, "files": len(list(out.iterdir()))}


def stage_ingest(args: argparse.Namespace) -> dict:
    """`revsearch ingest SHARDS -c DIR --index-memory BUDGET` (rows, then the index build at its end) in a process of
    its own under /usr/bin/time -v: wall clock and the whole process's peak RSS."""
    from revsearch.collection import Collection

    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "revsearch", "ingest", str(shards_dir(args)), "-c", args.dir,
           "--index-memory", args.index_memory, "--json", "-q"]
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode:
        raise SystemExit(f"ingest failed: {out.stderr[-3000:]}")
    report = json.loads(out.stdout)
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    cpu_s = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", out.stderr).group(1))
                for kind in ("User", "System"))
    with Collection.open(args.dir) as coll:
        info = coll.index_info()
        index_gb = coll.index_path().stat().st_size / 2**30
        budget_gb = coll.index_memory / 2**30
    catalog = sum(p.stat().st_size for p in Path(args.dir).iterdir() if p.is_file()) / 2**30 - index_gb
    return {"n": args.n, "seconds": wall, "ingest_s": report["seconds"], "build_s": wall - report["seconds"],
            "rows_per_s": report["indexed"] / report["seconds"], "indexed": report["indexed"],
            "peak_mb": peak_kb / 1024, "cpu_s": cpu_s, "catalog_gb": catalog, "kind": info.kind, "nprobe": info.nprobe,
            "build_recall": info.recall_at_10, "index_gb": index_gb, "budget_gb": budget_gb}


def timed_searches(coll, queries) -> tuple[list[float], list[list[int]]]:  # type: ignore[no-untyped-def]
    """One `search_vectors` per query (what `search` and the app run), after warming the page cache of the mapped
    lists as a server would be: sorted milliseconds, and each query's top-10 ids (-1 where fewer)."""
    from revsearch.search import search_vectors

    search_vectors(coll, queries[:5], 10)
    times, got = [], []
    for q in queries:
        t = time.perf_counter()
        hits = search_vectors(coll, q[None, :], 10)[0]
        times.append((time.perf_counter() - t) * 1000)
        got.append([h.id for h in hits] + [-1] * (10 - len(hits)))
    return sorted(times), got


def stage_learned(args: argparse.Namespace) -> dict:
    """LABELS_PER_CLASS labels per class (the shards stage's classes), `learn` (which prepares the learned search),
    then held-out queries in the learned space: exact top-10 by streaming every vector through the head, and one
    `search_vectors` per query (what `search` and the app run)."""
    import faiss
    import numpy as np

    from revsearch import labels, learned
    from revsearch.collection import Collection
    from revsearch.learning import head as head_mod
    from revsearch.search import search_vectors
    from revsearch.vectors import recall_at_k

    classes = np.load(args.dir + ".classes.npy")
    rng = np.random.default_rng(3)
    chosen = {int(row) + 1: f"class-{c:02d}" for c in np.unique(classes)  # a fresh collection's ids count from 1
              for row in rng.choice(np.flatnonzero(classes == c), LABELS_PER_CLASS, replace=False)}
    queries = generator(args.n).sample(args.queries, seed=999_999)
    with Collection.open(args.dir) as coll:
        labels.label_each(coll, chosen)
        started = time.perf_counter()
        result = learned.learn(coll)
        learn_s = time.perf_counter() - started
        found = learned.active_head(coll)
        if found is None:
            return {"used": False, "message": result.message, "learn_s": learn_s, "peak_mb": hwm_mb()}
        projected = learned.project(found, queries)
        heap = faiss.ResultHeap(len(queries), 10, keep_max=True)
        started = time.perf_counter()
        for ids, vecs in coll.iter_vectors(16_384):
            scores, rows = faiss.knn(projected, head_mod.apply(found, vecs), 10, metric=faiss.METRIC_INNER_PRODUCT)
            heap.add_result(scores, ids[rows])
        heap.finalize()
        exact_s = time.perf_counter() - started
        times, got = timed_searches(coll, queries)
        raw = [[h.id for h in r] for r in search_vectors(coll, queries, 10, space="raw")]
        reranked = learned.reranked(coll, found)
    return {"used": True, "labels": len(chosen), "classes": len(np.unique(classes)), "gain": result.gain,
            "learn_s": learn_s,
            "reranked": reranked, "recall": recall_at_k(np.array(got), heap.I),
            "raw_recall": recall_at_k(np.array(raw), heap.I), "p50_ms": times[len(times) // 2],
            "p95_ms": times[int(len(times) * 0.95)], "mean_ms": sum(times) / len(times), "exact_s": exact_s,
            "queries": len(queries), "peak_mb": hwm_mb()}


def stage_query(args: argparse.Namespace) -> dict:
    """Held-out queries: exact top-10 by streaming the catalog in chunks, then one ANN search per query through
    revsearch.search.search_vectors (what `search --embedding` runs), in a process that opens the collection."""
    import faiss
    import numpy as np

    from revsearch.collection import Collection
    from revsearch.vectors import recall_at_k

    queries = generator(args.n).sample(args.queries, seed=999_999)
    with Collection.open(args.dir) as coll:
        t = time.perf_counter()
        coll.index()
        open_s = time.perf_counter() - t
        heap = faiss.ResultHeap(len(queries), 10, keep_max=True)
        t = time.perf_counter()
        for ids, vecs in coll.iter_vectors(16_384):
            scores, rows = faiss.knn(queries, vecs, min(10, len(vecs)), metric=faiss.METRIC_INNER_PRODUCT)
            heap.add_result(scores, ids[rows])
        heap.finalize()
        exact_s = time.perf_counter() - t
        times, got = timed_searches(coll, queries)
    return {"queries": len(queries), "recall": recall_at_k(np.array(got), heap.I), "p50_ms": times[len(times) // 2],
            "mean_ms": sum(times) / len(times), "p95_ms": times[int(len(times) * 0.95)], "open_s": open_s,
            "exact_stream_s": exact_s, "peak_mb": hwm_mb(), "threads": faiss.omp_get_max_threads()}


def stage_info(args: argparse.Namespace) -> dict:
    """`revsearch info --json` in a new process, wall clock, twice (cold-ish and warm page cache)."""
    runs = []
    for _ in range(2):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "revsearch", "info", "-c", args.dir, "--json"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        runs.append(time.perf_counter() - t)
    data = json.loads(out.stdout)
    return {"first_s": runs[0], "second_s": runs[1], "ntotal": data["index"]["ntotal"], "type": data["index"]["type"]}


STAGES = {"shards": stage_shards, "ingest": stage_ingest, "query": stage_query, "info": stage_info,
          "learned": stage_learned}


def run_stage(name: str, args: argparse.Namespace) -> dict:
    argv = ["--n", str(args.n), "--dir", args.dir, "--index-memory", args.index_memory, "--queries", str(args.queries)]
    result = stages.run_child(__file__, name, argv + (["--float16"] if args.float16 else []), "million")
    print(f"[million] {name}: {result}", file=sys.stderr, flush=True)
    return result


def scaling(node_rate: float, commit_rate: float, bandwidth_mb: float, image_kb: float) -> list[dict]:
    """Indexing throughput on N nodes = min(N × per-node rate, storage bandwidth / image size, driver commit rate)."""
    storage_rate = bandwidth_mb * 1024 / image_kb
    rows = []
    for nodes in (1, 2, 4, 8, 16, 32, 64, 128):
        rate = min(nodes * node_rate, storage_rate, commit_rate)
        bound = "nodes" if rate == nodes * node_rate else ("storage" if rate == storage_rate else "driver commits")
        rows.append({"nodes": nodes, "img_s": rate, "bound": bound,
                     **{f"h_{n}": n / rate / 3600 for n in (1_000_000, 10_000_000, 100_000_000)}})
    return rows


def render(args: argparse.Namespace, r: dict) -> str:
    ing, qry, inf, lrn = r["ingest"], r["query"], r["info"], r["learned"]
    n = f"{args.n:,}"
    budget_mb = ing["budget_gb"] * 1024
    lines = [f"## A million images: {n} × {DIM}-d vectors in one collection", "",
             f"Machine: {os.cpu_count()} cores, {_mem_gb():.0f} GB RAM, shared with other agents. Vectors: synthetic "
             f"(benchsuite VectorGen: {max(8, args.n // 500)} clusters, rank-16 Gaussian each plus isotropic noise, "
             f"L2-normalised; queries held out), written as {r['shards']['files']} Parquet shards "
             f"({r['shards']['gb']:.1f} GB). Catalog vectors stored as float32. Index memory budget "
             f"{args.index_memory}. Produced by `benchmarks/million.py`.", "",
             "| measure | target | measured | met |", "|---|---|---|---|",
             f"| `revsearch ingest` of {n} × {DIM}-d shard rows, whole process (rows, then the index build at its "
             f"end; `/usr/bin/time -v`) | ≤ 15 min, peak RSS ≤ budget + 1 GB | {ing['seconds'] / 60:.1f} min "
             f"({ing['cpu_s'] / 60:.1f} min of CPU on {os.cpu_count()} shared cores): rows "
             f"{ing['ingest_s'] / 60:.1f} min ({ing['rows_per_s']:,.0f} rows/s), index build {ing['build_s'] / 60:.1f} "
             f"min ({ing['kind']}, file {ing['index_gb']:.2f} GB); peak RSS {ing['peak_mb'] / 1024:.2f} GB; catalog "
             f"{ing['catalog_gb']:.1f} GB | {_met(ing['seconds'] <= 900 and ing['peak_mb'] <= budget_mb + 1024)} |",
             f"| `revsearch info` in a new process | ≤ 3 s | {inf['first_s']:.2f} s (again: {inf['second_s']:.2f} s) | "
             f"{_met(inf['first_s'] <= 3)} |",
             f"| open (first `index()`, memory-mapped) in the query process | — | {qry['open_s'] * 1000:.0f} ms | |",
             f"| raw-vector search (`search_vectors`, k=10, one query at a time) | recall ≥ 0.95, ≤ 20 ms, < 4 GB | "
             f"recall@10 {qry['recall']:.3f} vs exact; p50 {qry['p50_ms']:.1f} ms, mean {qry['mean_ms']:.1f} ms, p95 "
             f"{qry['p95_ms']:.1f} ms; peak RSS {qry['peak_mb'] / 1024:.2f} GB (incl. streamed exact search) | "
             f"{_met(qry['recall'] >= 0.95 and qry['p50_ms'] <= 20 and qry['peak_mb'] < 4096)} |",
             _learned_row(lrn), "",
             (f"nprobe {ing['nprobe']} (calibrated at build: recall@10 {ing['build_recall']:.3f} on 200 sampled "
              f"vectors); " if ing["nprobe"] else "exact search; ") +
             f"{qry['queries']} held-out queries, {qry['threads']} faiss threads; exact top-10 of all queries by "
             f"streaming the catalog: {qry['exact_stream_s']:.0f} s." + _learned_note(lrn) +
             f" The ingest process got {ing['cpu_s'] / ing['seconds']:.0%} of one core on average while it ran (other "
             "processes held the rest when that is low): its wall times then overstate an idle machine's.", ""]
    rate = args.node_rate
    commit = ing["rows_per_s"]
    lines += ["### Simulated N-node indexing", "",
              f"Assumptions: per-node throughput {rate:g} img/s (decode + hash + embed on one 2-core node, measured here "
              f"by benchmarks/bench.py for efficientnet_lite0); shared storage {args.bandwidth:g} MB/s aggregate with "
              f"{args.image_kb:g} KB per image; the driver commits rows + vectors at {commit:,.0f} rows/s (the ingest "
              f"rate measured above); nodes scale linearly until one of those two caps (no stragglers, no retries). "
              f"The index build ({ing['build_s'] / 60:.1f} min at {n}) runs once after ingest on one machine.", "",
              "| nodes | img/s | bound by | 1M | 10M | 100M |", "|---|---|---|---|---|---|"]
    for row in scaling(rate, commit, args.bandwidth, args.image_kb):
        lines.append(f"| {row['nodes']} | {row['img_s']:,.0f} | {row['bound']} | {_h(row['h_1000000'])} | "
                     f"{_h(row['h_10000000'])} | {_h(row['h_100000000'])} |")
    return "\n".join(lines) + "\n"


def _learned_row(lrn: dict) -> str:
    what = ("| learned-space search after `learn` (`search_vectors`, k=10, one query at a time) | ≤ 50 ms, "
            "recall@10 ≥ 0.95 vs exact learned search | ")
    if not lrn["used"]:
        return what + f"not measured: {lrn['message']} | **no** |"
    return what + (f"recall@10 {lrn['recall']:.3f} vs exact (raw search's top 10: {lrn['raw_recall']:.3f}); p50 "
                   f"{lrn['p50_ms']:.1f} ms, mean {lrn['mean_ms']:.1f} ms, p95 {lrn['p95_ms']:.1f} ms; peak RSS "
                   f"{lrn['peak_mb'] / 1024:.2f} GB | {_met(lrn['recall'] >= 0.95 and lrn['p50_ms'] <= 50)} |")


def _learned_note(lrn: dict) -> str:
    if not lrn["used"]:
        return ""
    return (f" Learned: {lrn['labels']} labels ({lrn['classes']} classes), `learn` {lrn['learn_s']:.0f} s including "
            f"the table of class halves the search keeps in memory (learned_search.py; "
            f"{'scale path' if lrn['reranked'] else 'own learned index'}), held-out gain {lrn['gain']:.0%}; exact "
            f"learned top-10 by streaming every vector through the head: {lrn['exact_s']:.0f} s.")


def _h(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _mem_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def measure(args: argparse.Namespace) -> dict:
    """Every stage in order, each in a child process; the numbers are also kept beside --out (for --from-json)."""
    if Path(args.dir).exists():
        raise SystemExit(f"{args.dir} exists; pick another --dir or delete it")
    results = {}
    try:
        for name in ("shards", "ingest", "info", "query", "learned"):
            results[name] = run_stage(name, args)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
            shutil.rmtree(shards_dir(args), ignore_errors=True)
            Path(args.dir + ".classes.npy").unlink(missing_ok=True)
    if args.out:
        args.out.with_name(args.out.stem + "-million.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dir", default="/tmp/revsearch-million")
    p.add_argument("--out", type=Path)
    p.add_argument("--index-memory", default="4G")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--float16", action="store_true", help="store the catalog's vectors as float16")
    p.add_argument("--node-rate", type=float, default=93.0, help="img/s of one node (bench.py, 640×480, int8)")
    p.add_argument("--bandwidth", type=float, default=1000.0, help="shared storage MB/s (assumed)")
    p.add_argument("--image-kb", type=float, default=200.0, help="mean image file size (assumed)")
    p.add_argument("--keep", action="store_true", help="keep the collection directory")
    p.add_argument("--from-json", type=Path, metavar="FILE",
                   help="measure nothing: write the section from a run's saved numbers (OUT-million.json)")
    stages.add_stage_argument(p, STAGES)
    args = p.parse_args()
    if stages.run_if_child(args, STAGES):
        return 0
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = measure(args)
    text = render(args, results)
    print(text)
    if args.out:
        write_section(args.out, "million", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
