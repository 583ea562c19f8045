#!/usr/bin/env python3
"""What would close the query and UMAP gaps in BENCHMARKS.md — measured proposals, not part of the bench run.

query: a 100k-vector collection (synthetic, 1280-d), `Searcher.by_images` on real 640×480 photos with
  - the engine as it is (ONNX Runtime's intra-op threads spin-wait after each run),
  - an ONNX Runtime session with `session.intra_op.allow_spinning = 0`,
  and the bare single-query scan of IndexFlatIP vs IndexScalarQuantizer(fp16) (exact to fp16, half the memory).
umap: a 10k-point UMAP as projection.py fits it, then with n_epochs=200, then PCA-64 first (JIT excluded).

    .venv/bin/python benchmarks/query_experiments.py [query|umap] [--vectors 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from benchsuite.inputs import DEFAULT_DATASET, dataset_rows, default_work_dir, fill_collection, make_inputs, \
    synthetic_vectors  # noqa: E402
from benchsuite.measure import CpuMeter, Log  # noqa: E402


def query(n: int, reps: int) -> None:
    import faiss

    from pipeline_experiments import session
    from revsearch.indexing.pairing import create_for
    from revsearch.embed import Embedder
    from revsearch.search import Searcher

    meter = CpuMeter()
    embedder = Embedder("efficientnet_lite0")
    vectors = synthetic_vectors(n, embedder.dim, seed=1)
    coll = create_for(Path(tempfile.mkdtemp()) / "c", embedder)
    fill_collection(coll, [f"/synthetic/{i}.jpg" for i in range(n)], vectors)
    coll.index()
    searcher = Searcher(coll, embedder)
    files = make_inputs("vga", 40, dataset_rows(DEFAULT_DATASET), default_work_dir(), Log(True))
    sessions = {"engine as is (spinning)": embedder._ort, "allow_spinning=0": session(embedder, 2, False)}
    for rep in range(reps):
        for name, sess in sessions.items():
            embedder._ort = sess
            for f in files[:3]:
                searcher.by_images([f])
            times = []
            a = meter.snap()
            for f in files:
                t = time.perf_counter()
                searcher.by_images([f])
                times.append(time.perf_counter() - t)
            print(f"query, {name:28s} p50 {np.median(times) * 1e3:6.1f} ms  p95 {np.percentile(times, 95) * 1e3:6.1f}"
                  f"  (others {meter.foreign(a, meter.snap()):.2f} cores)", flush=True)
    queries = synthetic_vectors(64, embedder.dim, seed=5)
    flat = faiss.IndexFlatIP(embedder.dim)
    flat.add(vectors)
    fp16 = faiss.IndexScalarQuantizer(embedder.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    fp16.train(vectors)
    fp16.add(vectors)
    for name, index in (("IndexFlatIP", flat), ("IndexScalarQuantizer fp16", fp16)):
        index.search(queries[:1], 10)
        times = []
        for i in range(len(queries)):
            t = time.perf_counter()
            index.search(queries[i : i + 1], 10)
            times.append(time.perf_counter() - t)
        print(f"scan {n} vectors, one query: {name:28s} p50 {np.median(times) * 1e3:6.1f} ms", flush=True)
    _, truth = flat.search(queries, 10)
    _, got = fp16.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got.tolist(), truth.tolist())])
    print(f"fp16 scan recall@10 vs float32: {recall:.3f}")


def umap_fit(n: int) -> None:
    warnings.simplefilter("ignore")
    from sklearn.decomposition import PCA

    meter = CpuMeter()
    x = synthetic_vectors(n, 1280, seed=2)
    t = time.perf_counter()
    import umap

    print(f"import umap {time.perf_counter() - t:.1f} s", flush=True)

    def fit(label: str, data_fn, **kw) -> None:
        a = meter.snap()
        t = time.perf_counter()
        data = data_fn()
        umap.UMAP(n_components=2, metric="cosine", n_neighbors=15, min_dist=0.1, random_state=0, **kw).fit_transform(data)
        print(f"UMAP {n}: {label:42s} {time.perf_counter() - t:6.1f} s  (others {meter.foreign(a, meter.snap()):.2f})",
              flush=True)

    fit("as projection.py, first fit in process", lambda: x)
    fit("as projection.py, again (JIT done)", lambda: x)
    fit("n_epochs=200", lambda: x, n_epochs=200)
    fit("PCA-64 first", lambda: PCA(64, random_state=0).fit_transform(x))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="query", choices=("query", "umap"))
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    if args.what == "query":
        query(args.vectors, args.reps)
    else:
        umap_fit(args.points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
