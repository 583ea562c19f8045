"""Row 3: query latency (embed + search) of real photos against a large collection of synthetic vectors."""

from __future__ import annotations

import time

from benchsuite.inputs import fill_collection, synthetic_vectors
from benchsuite.measure import pct
from benchsuite.session import Session


def query(s: Session) -> None:
    from revsearch.indexing.pairing import create_for
    from revsearch.search import Searcher, search_vectors

    n = s.plan.query_vectors
    embedder = s.embedder
    queries = s.inputs("vga")
    s.log(f"query: a {n}-vector collection")
    t = time.perf_counter()
    vectors = synthetic_vectors(n, embedder.dim, seed=1)
    coll = create_for(s.tmp / "query-coll", embedder)
    precision = coll.precision
    fill_collection(coll, [f"/synthetic/query/{i:07d}.jpg" for i in range(n)], vectors)
    del vectors
    fill_s = time.perf_counter() - t
    t = time.perf_counter()
    index = coll.index()
    build_s = time.perf_counter() - t
    info = coll.index_info()
    kind = info.kind if info is not None else type(index).__name__
    searcher = Searcher(coll, embedder)
    for p in queries[:3]:
        searcher.by_images([p], k=10)  # warm-up
    reps = s.plan.query_reps

    def run_queries() -> list[float]:
        times = []
        for i in range(reps):
            path = queries[i % len(queries)]
            t = time.perf_counter()
            hits = searcher.by_images([path], k=10)
            times.append(time.perf_counter() - t)
            if len(hits[0]) != 10:
                raise RuntimeError(f"a query returned {len(hits[0])} hits, not 10")
        return times

    total = s.timed("query", run_queries)
    embed, search, faiss_only = [], [], []
    for i in range(reps):
        path = queries[i % len(queries)]
        t = time.perf_counter()
        vec = searcher.embed([path])
        embed.append(time.perf_counter() - t)
        t = time.perf_counter()
        search_vectors(coll, vec, 10)
        search.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.search(vec, 10)
        faiss_only.append(time.perf_counter() - t)
    coll.close()
    p50, p95 = pct(total, 50) * 1e3, pct(total, 95) * 1e3
    row = s.res.rows["query"]
    row.revsearch = f"{p50:.1f} ms (p95 {p95:.1f})"
    row.met = p50 <= 40.0
    e50, s50, f50 = pct(embed, 50) * 1e3, pct(search, 50) * 1e3, pct(faiss_only, 50) * 1e3
    row.note = (f"{reps} real 640×480 query photos, Searcher.by_images k=10; index {kind}; "
                f"embed p50 {e50:.1f} ms + search p50 {s50:.1f} ms (split scan + exact re-score; faiss's own one-thread "
                f"scan {f50:.1f} ms)")
    s.res.raw["query"] = {"vectors": n, "index": kind, "p50_ms": p50, "p95_ms": p95, "embed_p50_ms": e50,
                          "search_p50_ms": s50, "faiss_p50_ms": f50, "fill_s": fill_s, "index_build_s": build_s,
                          "precision": precision}
