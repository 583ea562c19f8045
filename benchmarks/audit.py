#!/usr/bin/env python3
"""The audit (issue 16) on the dev set and at scale: label issues vs confident learning, triage of planted defects,
the cost of pixel measures in indexing, and audit time at 10k and 1M images.

    .venv/bin/python benchmarks/audit.py --work /tmp/audit-bench --out BENCHMARKS.md [--seeds 5] [--big 1000000]

- labels: the dev set (clothing-small) indexed once; per scenario and seed its true labels are damaged and given to a
  copy of the collection through the product (`labels.label_each` with source 'import'; for cluster names,
  `clusters.recluster` k = 20 and `labels.name_cluster` with each cluster's majority label), then `audit.audit`
  reports. Scenarios: 10 % uniform flips; 10 % confusable flips (to the class whose mean vector is nearest the
  photo); cluster-named. The anchor: cleanlab 2.9.0 `find_label_issues` (defaults) on out-of-fold probabilities of a
  5-fold class-balanced softmax probe on the same raw vectors (issue 16's measurement), and the same on the audit's
  own evidence (which isolates the decision rule from the evidence).
- triage: TRIAGE_PER_KIND photos per defect kind (benchsuite/defects.py, JPEG q90) from distinct photos, the other
  photos clean, indexed together into a new collection (the pixel measures taken by indexing itself); recall per kind
  = share of the planted images reported with that issue name, false-flag rate = clean photos with any issue.
- overhead: the same photos indexed into new collections with and without the pixel measures, alternating, CPU
  seconds of the process; and measure() alone per image vs indexing CPU per image.
- scale: synthetic collections (benchsuite VectorGen, 1280-d) with labels (cluster names on some clusters, hand
  labels with 10 % flipped elsewhere), pixel measures and sizes written as indexing would; `audit.audit` timed.

Stages run in child processes of their own. Not a test: nothing here asserts a number.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchsuite import stages  # noqa: E402
from benchsuite.sections import write_section  # noqa: E402

DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"
SECTION = "audit"
TRIAGE_PER_KIND = 15
MODEL = "efficientnet_lite0"


# ---------------------------------------------------------------------------------------------------- shared


def truth(dataset: Path) -> dict[str, str]:
    with open(dataset / "labels.csv", newline="") as fh:
        return {str((dataset / r["path"]).resolve()): r["label"] for r in csv.DictReader(fh)}


def dev_collection(args: argparse.Namespace) -> Path:
    """The dev set indexed once into WORK/dev.rs (reused by later runs)."""
    from revsearch.collection import Collection
    from revsearch.embed import Embedder
    from revsearch.indexing import index_folder, pairing

    directory = args.work / "dev.rs"
    if not Collection.exists(directory):
        embedder = Embedder(MODEL)
        with pairing.create_for(directory, embedder) as coll:
            index_folder(coll, args.dataset, embedder)
    return directory


def prf(flagged: set[int], wrong: set[int]) -> tuple[float, float, float]:
    hit = len(flagged & wrong)
    p = hit / len(flagged) if flagged else 0.0
    r = hit / len(wrong) if wrong else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


# ---------------------------------------------------------------------------------------------------- labels


def stage_labels(args: argparse.Namespace) -> dict:
    from revsearch.collection import Collection

    source = dev_collection(args)
    names = truth(args.dataset)
    out: dict[str, list] = {}
    for scenario in ("uniform", "confusable", "cluster"):
        for seed in range(args.seeds):
            work = args.work / f"labels-{scenario}-{seed}.rs"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(source, work)
            with Collection.open(work) as coll:
                out.setdefault(scenario, []).append(_one_scenario(coll, names, scenario, seed))
            shutil.rmtree(work)
            print(f"[audit] labels {scenario} seed {seed}: {out[scenario][-1]}", file=sys.stderr, flush=True)
    return out


def _one_scenario(coll, names: dict[str, str], scenario: str, seed: int) -> dict:
    """Damage the labels, audit, and score the audit and the two confident-learning anchors."""
    from revsearch import audit, clusters, labels

    ids, vectors = coll.vectors()
    paths = coll.paths(ids.tolist())
    keep = np.array([paths[int(i)] in names for i in ids])
    ids, vectors = ids[keep], vectors[keep]
    classes = sorted({names[paths[int(i)]] for i in ids})
    true = np.array([classes.index(names[paths[int(i)]]) for i in ids])
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    if scenario == "cluster":
        fit = clusters.recluster(coll, 20, seed=seed)
        for c in fit.clusters:
            members = [m for m in c.member_ids if m in set(ids.tolist())]
            if members:
                votes = np.bincount(true[np.searchsorted(ids, members)], minlength=len(classes))
                labels.name_cluster(coll, c.id, classes[int(votes.argmax())])
        got = labels.labels(coll)
        given = np.array([classes.index(got[int(i)]) for i in ids])
    else:
        given = _flip(vectors, true, len(classes), scenario, rng)
        labels.label_each(coll, {int(i): classes[g] for i, g in zip(ids, given)}, source="import")
    damage_s = time.perf_counter() - started
    started = time.perf_counter()
    found = audit.audit(coll)
    audit_s = time.perf_counter() - started
    wrong = {int(i) for i, g, t in zip(ids, given, true) if g != t}
    flagged = {i.id for i in found.label_issues}
    row = {"errors": len(wrong), "flagged": len(flagged), "ours": prf(flagged, wrong), "audit_s": audit_s,
           "damage_s": damage_s}
    row["cl_probe"] = prf(_cleanlab(ids, given, _oof_probe(vectors, given, len(classes), seed)), wrong)
    row["cl_evidence"] = prf(_cleanlab(ids, given, _evidence(coll, ids, vectors, given, classes, scenario)), wrong)
    return row


def _flip(vectors: np.ndarray, true: np.ndarray, n: int, scenario: str, rng: np.random.Generator) -> np.ndarray:
    given = true.copy()
    flip = np.flatnonzero(rng.random(len(true)) < 0.10)
    if scenario == "uniform":
        for i in flip:
            given[i] = rng.choice([c for c in range(n) if c != true[i]])
        return given
    means = np.stack([vectors[true == c].mean(axis=0) for c in range(n)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    sims = vectors @ means.T
    sims[np.arange(len(true)), true] = -np.inf
    given[flip] = sims[flip].argmax(axis=1)
    return given


def _oof_probe(vectors: np.ndarray, given: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Issue 16's anchor evidence: a 5-fold class-balanced softmax probe's out-of-fold probabilities."""
    from revsearch.learning import probe
    from revsearch.learning.head import balanced
    from revsearch.learning.validate import fold_of

    fold = fold_of(given, 5, seed)
    out = np.zeros((len(given), n), dtype=np.float32)
    for f in range(5):
        train = fold != f
        mean = vectors[train].mean(axis=0)
        w, b = probe.fit(probe.features(vectors[train], mean), given[train], n, weights=balanced(given[train], n))
        out[~train] = probe.softmax(probe.features(vectors[~train], mean) @ w + b)
    return out


def _evidence(coll, ids, vectors, given, classes, scenario) -> np.ndarray:
    """The audit's own evidence for these labels (the same inputs run.py gives label_issues.check)."""
    from revsearch import clusters
    from revsearch.audit import label_issues

    groups = np.full(len(ids), -1, dtype=np.int64)
    if scenario == "cluster":
        assigned = clusters.assignments(coll, ids.tolist())
        groups = np.array([assigned.get(int(i), -1) for i in ids], dtype=np.int64)
    prior = np.full(len(ids), label_issues.PRIOR_ERROR["cluster" if scenario == "cluster" else "import"])
    every = np.ones(len(ids), dtype=bool)
    return label_issues.check(label_issues.reduce(vectors), given, len(classes), prior, every, groups,
                              ~every).evidence


def _cleanlab(ids: np.ndarray, given: np.ndarray, probs: np.ndarray) -> set[int]:
    import warnings

    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {int(i) for i in ids[find_label_issues(given, probs)]}


# ---------------------------------------------------------------------------------------------------- triage


def stage_triage(args: argparse.Namespace) -> dict:
    from PIL import Image

    from benchsuite import defects
    from revsearch import audit
    from revsearch.collection import Collection
    from revsearch.embed import Embedder
    from revsearch.indexing import index_folder, pairing

    photos = sorted(truth(args.dataset))
    order = np.random.default_rng(7).permutation(len(photos))
    folder = args.work / "triage"
    shutil.rmtree(folder, ignore_errors=True)
    planted: dict[str, str] = {}  # path -> kind
    for k, (kind, damage) in enumerate(defects.KINDS.items()):
        (folder / kind).mkdir(parents=True)
        for j in order[k * args.per_kind : (k + 1) * args.per_kind]:
            with Image.open(photos[j]) as im:
                target = folder / kind / Path(photos[j]).name
                damage(im.convert("RGB")).save(target, "JPEG", quality=90)
                planted[str(target.resolve())] = kind
    (folder / "clean").mkdir()
    clean = set()
    for j in order[len(defects.KINDS) * args.per_kind :]:
        target = folder / "clean" / Path(photos[j]).name
        shutil.copy2(photos[j], target)
        clean.add(str(target.resolve()))
    directory = args.work / "triage.rs"
    shutil.rmtree(directory, ignore_errors=True)
    embedder = Embedder(MODEL)
    with pairing.create_for(directory, embedder) as coll:
        index_folder(coll, folder, embedder)
        started = time.perf_counter()
        found = audit.audit(coll)
        seconds = time.perf_counter() - started
    issues = {q.path: q.issues for q in found.quality_issues}
    recall = {kind: sum(kind in issues.get(p, ()) for p, k in planted.items() if k == kind) / args.per_kind
              for kind in defects.KINDS}
    also = {kind: sorted({name for p, k in planted.items() if k == kind for name in issues.get(p, ()) if name != kind})
            for kind in defects.KINDS}
    false = {}
    for p in clean:
        for name in issues.get(p, ()):
            false[name] = false.get(name, 0) + 1
    return {"recall": recall, "also": also, "clean": len(clean), "clean_flagged": sum(p in issues for p in clean),
            "false_by_issue": false, "audit_s": seconds, "thresholds": found.rules.as_dict()}


# ---------------------------------------------------------------------------------------------------- overhead


def stage_overhead(args: argparse.Namespace) -> dict:
    """Index the same photos with and without the pixel measures, alternating; process CPU seconds."""
    from revsearch import images
    from revsearch.embed import Embedder
    from revsearch.indexing import index_files, pairing, pixel_measures

    photos = sorted(truth(args.dataset))[: args.overhead_n]
    embedder = Embedder(MODEL)
    real = pixel_measures.measure
    cpu: dict[str, list[float]] = {"with": [], "without": []}
    wall: dict[str, list[float]] = {"with": [], "without": []}
    for round_ in range(args.rounds):
        for mode in ("without", "with") if round_ % 2 else ("with", "without"):
            pixel_measures.measure = real if mode == "with" else (lambda img: None)
            directory = args.work / f"overhead-{mode}.rs"
            shutil.rmtree(directory, ignore_errors=True)
            with pairing.create_for(directory, embedder) as coll:
                c0, w0 = time.process_time(), time.perf_counter()
                index_files(coll, photos, embedder)
                cpu[mode].append(time.process_time() - c0)
                wall[mode].append(time.perf_counter() - w0)
            shutil.rmtree(directory)
            print(f"[audit] overhead {mode}: {cpu[mode][-1]:.1f} s CPU", file=sys.stderr, flush=True)
    pixel_measures.measure = real
    decoded = [images.load_image(p, target=embedder.input_size) for p in photos[:100]]
    c0 = time.process_time()
    for img in decoded:
        pixel_measures.measure(img)
    measure_ms = (time.process_time() - c0) / len(decoded) * 1000
    index_ms = float(np.median(cpu["with"])) / len(photos) * 1000
    return {"n": len(photos), "cpu_with": cpu["with"], "cpu_without": cpu["without"], "wall_with": wall["with"],
            "wall_without": wall["without"], "measure_ms": measure_ms, "index_cpu_ms": index_ms}


# ---------------------------------------------------------------------------------------------------- scale


def stage_scale(args: argparse.Namespace) -> dict:
    """A synthetic collection of `args.n` images written as indexing and labelling would leave it, then audited."""
    from benchsuite.inputs import VectorGen
    from benchsuite.measure import CpuMeter
    from revsearch import audit, clusters, labels
    from revsearch.audit import measuring
    from revsearch.collection import Collection, NewRow

    directory = args.work / f"scale-{args.n}.rs"
    shutil.rmtree(directory, ignore_errors=True)
    gen = VectorGen(1280, n_clusters=max(20, args.n // 500), seed=11)
    rng = np.random.default_rng(3)
    started = time.perf_counter()
    names = [f"class{c}" for c in range(20)]
    classes = np.empty(0, dtype=np.int64)
    all_ids: list[int] = []
    with Collection.create(directory, MODEL, "synthetic", 1280) as coll:
        buf = np.empty((10_000, 1280), dtype=np.float32)
        for start in range(0, args.n, 10_000):
            m = min(10_000, args.n - start)
            cluster = gen.fill(buf[:m], seed=1000 + start)
            classes = np.concatenate([classes, cluster % len(names)])
            rows = [NewRow(path=f"/photos/{i // 1000:04d}/{i:07d}.jpg", hash=f"{i:064x}", size=100_000,
                           mtime_ns=1, width=640, height=480) for i in range(start, start + m)]
            ids = coll.add_rows(rows, buf[:m])
            all_ids += ids
            values = np.clip(rng.normal([0.5, 0.15, 0.5, 0.85, 0.22, 7.0, 0.01, 0.25, 0.33],  # like clothing-small
                                        [0.08, 0.05, 0.1, 0.06, 0.05, 0.4, 0.01, 0.06, 0.06], (m, 9)), 0, 8)
            measuring.store(coll, [(i, f"{start + n:064x}", values[n]) for n, i in enumerate(ids)])
        print(f"[audit] scale {args.n}: rows in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        coll.index()
        labelled = np.flatnonzero(rng.random(args.n) < min(1.0, 50_000 / args.n))
        given = classes[labelled].copy()
        flip = rng.random(len(labelled)) < 0.10
        given[flip] = rng.integers(0, len(names), int(flip.sum()))
        labels.label_each(coll, {all_ids[i]: names[g] for i, g in zip(labelled, given)}, source="import")
        fit = clusters.recluster(coll, 40)
        for c in fit.clusters[:10]:  # some labels come from naming clusters
            labels.name_cluster(coll, c.id, f"cluster{c.id}")
        prepared = time.perf_counter() - started
        meter = CpuMeter()
        before, cpu = meter.snap(), time.process_time()
        found = audit.audit(coll)
        after, cpu = meter.snap(), time.process_time() - cpu
        seconds = after[0] - before[0]
    if not args.keep:
        shutil.rmtree(directory)
    return {"n": args.n, "labelled": found.labelled, "checked": found.labels_checked, "audit_s": seconds,
            "cpu_s": cpu, "other_cores": CpuMeter.foreign(before, after), "label_issues": len(found.label_issues),
            "quality_issues": len(found.quality_issues), "prepare_s": prepared}


STAGES = {"labels": stage_labels, "triage": stage_triage, "overhead": stage_overhead, "scale": stage_scale}


# ---------------------------------------------------------------------------------------------------- report


def _mean(rows: list[dict], key: str) -> tuple[float, float, float]:
    return tuple(float(np.mean([r[key][k] for r in rows])) for k in range(3))


def render(res: dict, args: argparse.Namespace) -> str:
    lines = ["## Audit: label issues, image quality, overlap (issue 16)", "",
             f"`benchmarks/audit.py` on {time.strftime('%Y-%m-%d %H:%M')}, clothing-small ({MODEL}, two views). "
             "Label scenarios: mean over seeds 0–" f"{args.seeds - 1}" " (precision / recall / F1 of the reported "
             "labels against the damaged ones); confident learning = cleanlab 2.9.0 `find_label_issues` with its "
             "defaults.", ""]
    if "labels" in res:
        lines += ["| errors planted | audit: P / R / F1 | CL on a 5-fold probe: P / R / F1 | CL on the audit's "
                  "evidence: P / R / F1 | errors | reported | audit s |", "|---|---|---|---|---|---|---|"]
        what = {"uniform": "10 % uniform flips", "confusable": "10 % confusable flips (to the nearest class)",
                "cluster": "cluster-named (k = 20, majority name)"}
        for scenario, rows in res["labels"].items():
            cells = [" / ".join(f"{v:.2f}" for v in _mean(rows, key)) for key in ("ours", "cl_probe", "cl_evidence")]
            lines.append(f"| {what[scenario]} | {cells[0]} | {cells[1]} | {cells[2]} | "
                         f"{np.mean([r['errors'] for r in rows]):.0f} | {np.mean([r['flagged'] for r in rows]):.0f} | "
                         f"{np.mean([r['audit_s'] for r in rows]):.1f} |")
    if "triage" in res:
        t = res["triage"]
        lines += ["", f"Triage: {args.per_kind} planted defects per kind among {t['clean']} clean photos, indexed "
                  "together (measures taken by indexing):", "",
                  "| defect | found | also reported |", "|---|---|---|"]
        for kind, share in t["recall"].items():
            lines.append(f"| {kind} | {share:.0%} | {', '.join(t['also'][kind]) or '—'} |")
        false = ", ".join(f"{k} {v}" for k, v in sorted(t["false_by_issue"].items())) or "none"
        lines += ["", f"Clean photos reported: {t['clean_flagged']} of {t['clean']} "
                  f"({t['clean_flagged'] / t['clean']:.1%}; {false}). Audit of the {t['clean'] + 7 * args.per_kind} "
                  f"images: {t['audit_s']:.1f} s. Thresholds here: {t['thresholds']}."]
    if "overhead" in res:
        o = res["overhead"]
        cpu = float(np.median(o["cpu_with"])) / float(np.median(o["cpu_without"])) - 1
        wall = float(np.median(o["wall_with"])) / float(np.median(o["wall_without"])) - 1
        lines += ["", f"Pixel measures in indexing ({o['n']} photos, {len(o['cpu_with'])} alternating rounds each): "
                  f"measure() {o['measure_ms']:.2f} ms CPU per image against {o['index_cpu_ms']:.1f} ms CPU to index "
                  f"one = {o['measure_ms'] / o['index_cpu_ms']:.1%}; whole runs with vs without measures: CPU "
                  f"{cpu:+.1%}, wall {wall:+.1%} (medians; whole-run differences are within this shared machine's "
                  "noise)."]
    for key in ("scale_small", "scale_big"):
        if key in res:
            s = res[key]
            lines += ["", f"Audit of {s['n']:,} synthetic images ({s['labelled']:,} labelled, {s['checked']:,} "
                      f"judged): {s['audit_s']:.1f} s, {s['cpu_s']:.1f} s of CPU (other processes kept "
                      f"{s['other_cores']:.1f} of 2 cores busy meanwhile); {s['label_issues']:,} label issues, "
                      f"{s['quality_issues']:,} quality issues reported."]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/revsearch-audit-bench"))
    p.add_argument("--dataset", type=Path, default=DATASET)
    p.add_argument("--out", type=Path, help="write the section into this BENCHMARKS.md")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--per-kind", type=int, default=TRIAGE_PER_KIND)
    p.add_argument("--overhead-n", type=int, default=300)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--small", type=int, default=10_000, help="images of the small scale run")
    p.add_argument("--big", type=int, default=1_000_000, help="images of the large scale run (0: skip)")
    p.add_argument("--only", nargs="+", choices=("labels", "triage", "overhead", "scale"))
    p.add_argument("--keep", action="store_true", help="keep the scale runs' collections in WORK")
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    stages.add_stage_argument(p, STAGES)
    args = p.parse_args()
    if stages.run_if_child(args, STAGES):
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    common = ["--work", str(args.work), "--dataset", str(args.dataset), "--seeds", str(args.seeds), "--per-kind",
              str(args.per_kind), "--overhead-n", str(args.overhead_n), "--rounds", str(args.rounds),
              *(["--keep"] if args.keep else [])]
    wanted = args.only or ["labels", "triage", "overhead", "scale"]
    kept = args.work / "results.json"  # --only reruns some stages; the others' last results are reported again
    res: dict = json.loads(kept.read_text()) if args.only and kept.is_file() else {}
    runs = [(name, name, common) for name in ("labels", "triage", "overhead") if name in wanted]
    if "scale" in wanted:
        runs.append(("scale_small", "scale", [*common, "--n", str(args.small)]))
        if args.big:
            runs.append(("scale_big", "scale", [*common, "--n", str(args.big)]))
    for key, stage, argv in runs:
        res[key] = stages.run_child(__file__, stage, argv, "audit")
        kept.write_text(json.dumps(res))  # a later stage that fails loses nothing measured before it
    body = render(res, args)
    print(body)
    if args.out:
        write_section(args.out, SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
