"""Rows 1–2: end-to-end `index` throughput on 640×480 and 12 MP JPEGs, naive vs revsearch, interleaved rounds.

revsearch = `index_folder` into a fresh collection with default settings, then `Collection.index()` (what
`python -m revsearch index` does)."""

from __future__ import annotations

import shutil
import statistics
import time

from benchsuite.inputs import link
from benchsuite.session import Session


def throughput(s: Session, kind: str) -> None:
    from revsearch.collection import Collection
    from revsearch.indexing import index_folder

    plan = s.plan
    n, n_naive = (plan.vga, plan.vga_naive) if kind == "vga" else (plan.mp12, plan.mp12_naive)
    files = s.inputs(kind)[:n]
    folder = s.tmp / f"{kind}-photos"
    folder.mkdir()
    for p in files:  # hard links: same bytes, same page cache, a folder holding exactly these files
        link(p, folder / p.name)
    embedder, naive = s.embedder, s.naive
    naive.embed_file(files[0])  # warm-up on the real size
    warm = s.tmp / f"{kind}-warm"
    warm.mkdir()
    for p in files[: min(4, n)]:
        link(p, warm / p.name)
    with Collection.create(s.tmp / f"{kind}-warm-coll", embedder.name, embedder.fingerprint, embedder.dim) as c:
        index_folder(c, warm, embedder)
    attempts = iter(range(1000))

    def run_naive() -> float:
        t = time.perf_counter()
        naive.index(files[:n_naive])
        return time.perf_counter() - t

    def run_revsearch():
        directory = s.tmp / f"{kind}-coll-{next(attempts)}"
        with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim) as coll:
            t = time.perf_counter()
            report = index_folder(coll, folder, embedder)
            coll.index()
            elapsed = time.perf_counter() - t
        shutil.rmtree(directory, ignore_errors=True)
        return elapsed, report

    naive_runs, rev_runs = [], []
    for r in range(plan.rounds):  # interleaved, so drift in the machine's speed hits both alike
        s.log(f"{kind}: naive pipeline on {n_naive} images (round {r + 1}/{plan.rounds})")
        naive_runs.append(s.timed(f"{kind} naive", run_naive))
        s.log(f"{kind}: revsearch index on {n} images (round {r + 1}/{plan.rounds})")
        elapsed, report = s.timed(f"{kind} revsearch", run_revsearch)
        rev_runs.append(elapsed)
        if report.indexed != n:
            raise RuntimeError(f"revsearch indexed {report.indexed} of {n} inputs (skipped {report.skipped[:2]}, "
                               f"duplicates {report.duplicates[:2]}): the inputs are not distinct photos")
    naive_s, rev_s = statistics.median(naive_runs), statistics.median(rev_runs)
    naive_ips, rev_ips = n_naive / naive_s, n / rev_s
    ratio = rev_ips / naive_ips
    need_ips, need_ratio = (45.0, 2.5) if kind == "vga" else (30.0, 5.0)
    row = s.res.rows[kind]
    row.naive = f"{naive_ips:.1f} img/s"
    row.revsearch = f"{rev_ips:.1f} img/s"
    row.ratio = f"{ratio:.2f}×"
    row.met = rev_ips >= need_ips and ratio >= need_ratio
    spread = ""
    if len(rev_runs) > 1:
        spread = (f"; median of {len(rev_runs)} interleaved rounds, naive {n_naive / max(naive_runs):.1f}–"
                  f"{n_naive / min(naive_runs):.1f}, revsearch {n / max(rev_runs):.1f}–{n / min(rev_runs):.1f} img/s")
    row.note = (f"naive on {n_naive} images ({naive_s:.1f} s), revsearch on {n} ({rev_s:.1f} s, "
                f"backend {embedder.backend}){spread}")
    s.res.raw[kind] = {"naive_images": n_naive, "naive_s": naive_s, "naive_ips": naive_ips, "rev_images": n,
                       "rev_s": rev_s, "rev_ips": rev_ips, "ratio": ratio, "indexed": report.indexed,
                       "naive_runs_s": naive_runs, "rev_runs_s": rev_runs}
