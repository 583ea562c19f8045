#!/usr/bin/env python3
"""Splits that cannot leak (issue 16): planted near-copies on the dev set, per-class deviation, and split time at
10k and 1M images.

    .venv/bin/python benchmarks/splits.py --work /tmp/split-bench --out BENCHMARKS.md [--sizes 10000,1000000]

Dev set: clothing-small (713 photos, 10 classes, labels.csv) copied into WORK/devset, 70 % of the photos first and
the rest later (the collection grows), plus two planted copies of each of 150 photos, kinds in turn: light ones
(resized to 75 % + JPEG q70, the central 95 % crop, an exact copy) and, reported apart, harder ones (resized to 50 % +
JPEG q40, a 90 % corner crop). Copies carry their original's label. Measured: planted pairs across splits (revsearch's
split, and a plain stratified random split of the same images as the anchor), per-class deviation from 80/10/10,
stability when the collection grows, and what a lower near-duplicate threshold catches and costs.

Synthetic: benchmarks/synthetic_collection.py (stages files, ingest, index; 1 % of rows a near-copy, cosine ≈ 0.97,
of another), then half the images labelled (20 classes by their nearest of 20 random directions) and 0.1 % exact-copy
rows. Each timed step runs in a child process of its own (peak RSS its own). A sampled leak check searches 1,000
random images exactly over every vector (streamed) and counts their pairs ≥ the threshold that straddle a split.
Not a test: nothing here asserts a time.
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
SYNTHETIC = ROOT / "benchmarks" / "synthetic_collection.py"
PLANTED = 150  # photos that get two planted copies each
THRESHOLDS = (0.92, 0.90, 0.88, 0.85)  # near-duplicate thresholds compared on the dev set
RATIOS = "80,10,10"
SEEDS = (0, 1, 2)
GROW = 1_000  # images added to a synthetic collection (10 % of them near-copies of earlier ones)
SAMPLE = 1_000  # images whose every near-copy is found by exact search, for the sampled leak check


def log(message: str) -> None:
    print(f"[splits] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------- dev set


KINDS = ("resize 75 % + JPEG q70", "central 95 % crop", "exact copy", "resize 50 % + JPEG q40 (harder)",
         "corner 90 % crop (harder)")


def plant(src: Path, kind: str, out: Path) -> Path:
    """One planted copy of `src` (a kind of KINDS) written to `out`."""
    from PIL import Image

    if kind == "exact copy":
        return Path(shutil.copy2(src, out))
    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        if kind.startswith("resize"):
            factor, quality = (0.75, 70) if "75" in kind else (0.5, 40)
            im.resize((round(w * factor), round(h * factor))).save(out, quality=quality)
        elif kind.startswith("central"):
            im.crop((w // 40, h // 40, w - w // 40, h - h // 40)).save(out, quality=90)
        else:
            im.crop((0, 0, w * 9 // 10, h * 9 // 10)).save(out, quality=90)
    return out


def prepare_devset(work: Path) -> tuple[dict, list[tuple[str, str, str]]]:
    """WORK/devset/{first,later}: the photos (70 % / 30 %) and planted copies — two each of PLANTED photos, of kinds
    taken in turn — with copies of a first-part photo half beside it, half later. (truth path -> label, planted
    pairs (copy, original, kind))."""
    with open(DATASET / "labels.csv", newline="") as fh:
        rows = sorted((DATASET / r["path"], r["label"]) for r in csv.DictReader(fh))
    root = work / "devset"
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    later = set(rng.choice(len(rows), len(rows) * 3 // 10, replace=False).tolist())
    planted = rng.choice(len(rows), PLANTED, replace=False).tolist()
    truth, pairs = {}, []
    for k, (src, label) in enumerate(rows):
        part = root / ("later" if k in later else "first") / label
        part.mkdir(parents=True, exist_ok=True)
        truth[str(Path(shutil.copy2(src, part / f"p{k:04d}.jpg")).resolve())] = label
    for n, k in enumerate(planted):
        src, label = rows[k]
        original = next(p for p in truth if Path(p).name == f"p{k:04d}.jpg")
        for j in range(2):
            kind = KINDS[(2 * n + j) % len(KINDS)]
            where = root / ("later" if k in later or j else "first") / label
            copy = plant(src, kind, where / f"p{k:04d}-copy{j}.jpg").resolve()
            truth[str(copy)] = label
            pairs.append((str(copy), original, kind))
    return truth, pairs


def stage_devset(args: argparse.Namespace) -> dict:
    from benchsuite.measure import hwm_mb
    from revsearch import labels, near_duplicates, splits
    from revsearch.collection import Collection
    from revsearch.indexing import index_folder
    from revsearch.embed import Embedder

    truth, pairs = prepare_devset(args.work)
    directory = args.work / "devset-collection"
    shutil.rmtree(directory, ignore_errors=True)
    embedder = Embedder("efficientnet_lite0")
    out: dict = {"pairs": len(pairs)}
    with Collection.create(directory, embedder.name, embedder.fingerprint, embedder.dim,
                           input_mode=embedder.input_mode) as coll:
        index_folder(coll, args.work / "devset" / "first", embedder)
        labels.label_each(coll, {p: truth[p] for p in truth if coll.by_path(p) is not None}, source="import")
        t = time.perf_counter()
        first = splits.make_split(coll, RATIOS, seed=0)
        out["first"] = {"seconds": time.perf_counter() - t, **summarise(first, pairs, splits.split_of(coll), coll)}
        before = splits.split_of(coll)
        index_folder(coll, args.work / "devset" / "later", embedder)
        labels.label_each(coll, {p: truth[p] for p in truth if coll.by_path(p) is not None and
                                 coll.by_path(p).id not in before}, source="import")
        t = time.perf_counter()
        grown = splits.make_split(coll)
        after = splits.split_of(coll)
        out["grown"] = {"seconds": time.perf_counter() - t, "moved": sum(after[i] != s for i, s in before.items()),
                        **summarise(grown, pairs, after, coll)}
        out["resplit"] = []
        for seed in SEEDS:
            t = time.perf_counter()
            rep = splits.make_split(coll, RATIOS, seed=seed, resplit=True)
            out["resplit"].append({"seed": seed, "seconds": time.perf_counter() - t,
                                   **summarise(rep, pairs, splits.split_of(coll), coll)})
        out["naive"] = naive(coll, pairs)
        out["threshold"] = near_duplicates.default_threshold(coll)
        out["sweep"] = []
        for threshold in THRESHOLDS:
            rep = splits.make_split(coll, RATIOS, seed=0, resplit=True, threshold=threshold)
            out["sweep"].append({"threshold": threshold, **summarise(rep, pairs, splits.split_of(coll), coll),
                                 "grouped": grouped(coll, pairs, threshold), "strangers": strangers(coll, threshold)})
    out["peak_mb"] = hwm_mb()
    return out


def grouped(coll, pairs: list[tuple[str, str, str]], threshold: float) -> dict[str, list[int]]:
    """kind -> [planted copies in one near-duplicate group with their original, planted copies]."""
    from revsearch import near_duplicates

    group_of = {m.id: g.id for g in near_duplicates.find_duplicates(coll, threshold) for m in g.members}
    out: dict[str, list[int]] = {}
    for copy, original, kind in pairs:
        a, b = ids_of(coll, copy, original)  # type: ignore[misc]  (everything is indexed by now)
        counts = out.setdefault(kind, [0, 0])
        counts[0] += int(a in group_of and group_of.get(a) == group_of.get(b))
        counts[1] += 1
    return out


def strangers(coll, threshold: float) -> int:
    """Images grouped with a *different* source photo of the dataset (look-alikes, not copies): the price of a lower
    threshold. A planted copy belongs to its source photo (`pNNNN` of its name)."""
    from revsearch import near_duplicates

    extra = 0
    for g in near_duplicates.find_duplicates(coll, threshold):
        sources = {Path(m.path).name[:5] for m in g.members}
        extra += len(sources) - 1
    return extra


def ids_of(coll, copy: str, original: str) -> tuple[int, int] | None:
    """The two images' ids, None while one of them is not in the collection yet."""
    a, b = coll.by_path(copy), coll.by_path(original)
    return None if a is None or b is None else (a.id, b.id)


def across_splits(coll, pairs: list[tuple[str, str, str]], where: dict) -> dict[str, int]:
    """Planted pairs (both in the collection) whose two images are in different splits, by kind."""
    out: dict[str, int] = {}
    for copy, original, kind in pairs:
        both = ids_of(coll, copy, original)
        if both is not None:
            out[kind] = out.get(kind, 0) + int(where.get(both[0]) != where.get(both[1]))
    return out


def summarise(rep, pairs: list[tuple[str, str, str]], where: dict[int, str], coll) -> dict:
    """Planted pairs across splits (by kind), the report's own leak count and per-class deviation."""
    data = rep.as_dict()
    return {"planted_across": across_splits(coll, pairs, where), "leaks": data["leaks"]["total"],
            "max_deviation": data["max_deviation"],
            "deviation": {k: v["deviation"] for k, v in data["per_class"].items()}, "splits": data["splits"],
            "assigned": data["assigned"], "kept": data["kept"], "groups": data["groups"]}


def naive(coll, pairs: list[tuple[str, str, str]]) -> dict:
    """The anchor: a stratified random 80/10/10 split of the same images (what most scripts do), by kind."""
    from revsearch import labels

    of = labels.labels(coll)
    ids = sorted(i for i in of)
    rng = np.random.default_rng(0)
    where: dict[int, int] = {}
    for label in sorted(set(of.values())):
        members = rng.permutation([i for i in ids if of[i] == label])
        cut = np.round(np.cumsum([0.8, 0.1]) * len(members)).astype(int)
        for part, chunk in enumerate(np.split(members, cut)):
            where.update({int(i): part for i in chunk})
    return across_splits(coll, pairs, where)


# ---------------------------------------------------------------------------------------------------- synthetic


def synthetic_dir(args: argparse.Namespace) -> Path:
    return args.work / f"syn-{args.n}"


def stage_label(args: argparse.Namespace) -> dict:
    """Half the images labelled (20 uneven classes: nearest of 20 random directions) and 0.1 % exact-copy rows."""
    from benchsuite.measure import hwm_mb
    from revsearch import labels
    from revsearch.collection import Collection, NewRow

    directions = np.random.default_rng(3).standard_normal((1280, 20)).astype(np.float32)
    rng = np.random.default_rng(4)
    t = time.perf_counter()
    with Collection.open(synthetic_dir(args) / "collections" / "synthetic") as coll:
        todo: dict[int, str] = {}
        for ids, vecs in coll.iter_vectors(65_536):
            keep = rng.random(len(ids)) < 0.5
            classes = np.argmax(vecs[keep] @ directions, axis=1)
            todo.update({int(i): f"class{c:02d}" for i, c in zip(ids[keep], classes)})
        labels.label_each(coll, todo, source="import")
        originals = rng.choice(sorted(todo), max(1, args.n // 1000), replace=False)
        rows = coll.rows_by_id(originals.tolist())
        coll.add_rows([NewRow(f"{rows[int(o)].path}.copy.jpg", rows[int(o)].hash, status="duplicate",
                              duplicate_of=int(o)) for o in originals])
    return {"labelled": len(todo), "exact_copies": len(originals), "seconds": time.perf_counter() - t,
            "peak_mb": hwm_mb()}


def stage_split(args: argparse.Namespace) -> dict:
    """One `make_split` (full comparison, kept comparison, or after growth), timed."""
    from benchsuite.measure import hwm_mb
    from revsearch import near_duplicates, splits
    from revsearch.collection import Collection

    with Collection.open(synthetic_dir(args) / "collections" / "synthetic") as coll:
        if args.mode == "full":  # as the first split of this collection: no earlier growth, nothing compared yet
            coll.remove([r.id for r in (coll.by_path(grown_path(args.n, k)) for k in range(GROW)) if r is not None])
            near_duplicates.forget_comparison(coll)
        if args.mode == "grow":
            grow(coll, args.n)
        t = time.perf_counter()
        rep = splits.make_split(coll, RATIOS if args.mode != "grow" else None, seed=0, resplit=args.mode != "grow")
        seconds = time.perf_counter() - t
        data = rep.as_dict()
    return {"seconds": seconds, "peak_mb": hwm_mb(), "assigned": data["assigned"], "kept": data["kept"],
            "leaks": data["leaks"]["total"], "max_deviation": data["max_deviation"], "groups": data["groups"],
            "splits": data["splits"]}


def grow(coll, n: int) -> None:
    """GROW new images: a tenth of them near-copies (cosine ≈ 0.97) of earlier ones, the rest fresh."""
    from benchsuite.inputs import VectorGen
    from revsearch.collection import NewRow

    rng = np.random.default_rng(8)
    vecs = np.empty((GROW, 1280), np.float32)
    VectorGen(1280, n_clusters=max(8, n // 500), seed=11).fill(vecs, seed=99)
    picks = rng.choice(n, GROW // 10, replace=False) + 1  # synthetic ids run 1..n
    _, sources = coll.vectors(picks.tolist())
    noise = rng.standard_normal((len(sources), 1280)).astype(np.float32)
    vecs[: len(sources)] = sources + 0.25 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    coll.add_rows([NewRow(grown_path(n, k), f"grown-{n}-{k}") for k in range(GROW)], vecs)


def grown_path(n: int, k: int) -> str:
    return f"/grown/{n}/{k:05d}.jpg"


def stage_check(args: argparse.Namespace) -> dict:
    """Sampled leak check: SAMPLE images' near-copies by exact search over every vector; and an export with card."""
    import io

    from benchsuite.measure import hwm_mb
    from revsearch import export, near_duplicates, splits
    from revsearch.collection import Collection

    with Collection.open(synthetic_dir(args) / "collections" / "synthetic") as coll:
        threshold = near_duplicates.default_threshold(coll)
        where = splits.split_of(coll)
        ids = np.array(sorted(where), np.int64)
        sample_ids, queries = coll.vectors(np.random.default_rng(5).choice(ids, SAMPLE, replace=False).tolist())
        t = time.perf_counter()
        found = across = 0
        for chunk_ids, vecs in coll.iter_vectors(65_536):
            scores = queries @ vecs.T
            for q, c in zip(*np.nonzero(scores >= threshold)):
                a, b = int(sample_ids[q]), int(chunk_ids[c])
                if a != b:
                    found += 1
                    across += int(where.get(a) != where.get(b))
        check_s = time.perf_counter() - t
        t = time.perf_counter()
        rep = export.export_csv(coll, io.StringIO())
        card = export.dataset_card(coll)
        export_s = time.perf_counter() - t
    return {"sample": SAMPLE, "pairs": found, "across": across, "check_seconds": check_s, "export_seconds": export_s,
            "rows": rep.written, "card_leaks": card["audit"]["leak_check"], "peak_mb": hwm_mb()}


STAGES = {"devset": stage_devset, "label": stage_label, "split": stage_split, "check": stage_check}


def child(name: str, args: argparse.Namespace, n: int = 0, mode: str = "") -> dict:
    argv = ["--work", str(args.work), "--n", str(n), "--mode", mode]
    return stages.run_child(__file__, name, argv, "splits")


def synthetic(args: argparse.Namespace, n: int) -> dict:
    """Build (once: WORK/syn-N/.built marks it), label, then time the split steps and check for leaks."""
    data = args.work / f"syn-{n}"
    if not (data / ".built").exists():
        shutil.rmtree(data, ignore_errors=True)
        for stage in ("files", "ingest", "index"):
            log(f"{n:,}: synthetic_collection {stage}")
            stages.run_child(str(SYNTHETIC), stage, ["--n", str(n), "--data", str(data), "--duplicates", "0.01"],
                             "synthetic")
        (data / ".built").write_text("files, ingest, index\n")
    if not (data / ".labelled").exists():
        (data / ".labelled").write_text(json.dumps(child("label", args, n)))
    out: dict = {"label": json.loads((data / ".labelled").read_text())}
    for mode in ("full", "kept", "grow"):
        log(f"{n:,}: split ({mode})")
        out[mode] = child("split", args, n, mode)
    out["check"] = child("check", args, n)
    return out


# ---------------------------------------------------------------------------------------------------- report


def render(dev: dict | None, synth: dict[int, dict], seconds: float) -> str:
    lines = ["## Splits that cannot leak (issue 16)", "",
             f"Machine: 2 cores, shared with other agents. Ratios 80/10/10. Produced by `benchmarks/splits.py` in "
             f"{seconds / 60:.0f} min.", ""]
    if dev:
        lines += render_dev(dev)
    if synth:
        lines += render_synthetic(synth)
    return "\n".join(lines)


def render_dev(dev: dict) -> list[str]:
    default = next(r for r in dev["sweep"] if r["threshold"] == dev["threshold"])
    runs = [dev["first"], dev["grown"], *dev["resplit"]]
    lines = [f"### Dev set: clothing-small with planted near-copies ({dev['pairs']} planted pairs)", "",
             f"{PLANTED} photos get two planted copies each (kinds in turn; a copy carries its original's label); 70 % "
             "of the photos are indexed and split first, the rest (and half of the copies of the first ones) added "
             f"later. Near-duplicate threshold {dev['threshold']} (the collection's default). Anchor: a stratified "
             "random split of the same labelled images, as most training scripts make it.", "",
             f"| planted copy | grouped with its original | across splits: revsearch (first / grown / re-split, "
             f"seeds {', '.join(map(str, SEEDS))}) | across splits: stratified random |", "|---|---:|---|---:|"]
    for kind in KINDS:
        hit, total = default["grouped"][kind]
        lines.append(f"| {kind} | {hit}/{total} | " + " / ".join(str(r["planted_across"].get(kind, 0)) for r in runs)
                     + f" | {dev['naive'].get(kind, 0)} |")
    light = [k for k in KINDS if "harder" not in k]
    worst = max(sum(r["planted_across"].get(k, 0) for k in light) for r in runs)
    lines += ["", f"Light edits across splits, worst run: **{worst}**; the split's own leak report: "
              f"{max(r['leaks'] for r in runs)} in every run.", "",
              "| run | images | kept / assigned | groups kept together | max class deviation (points) | time |",
              "|---|---:|---|---:|---:|---:|"]
    for name, r in (("first 70 %", dev["first"]), ("grown to 100 %", dev["grown"]),
                    *((f"re-split, seed {r['seed']}", r) for r in dev["resplit"])):
        lines.append(f"| {name} | {sum(r['splits'].values()):,} | {r['kept']:,} / {r['assigned']:,} | "
                     f"{r['groups']['kept_together']} | {r['max_deviation']:.2f} | {r['seconds']:.2f} s |")
    per = dev["resplit"][0]["deviation"]
    lines += ["", f"After growing, {dev['grown']['moved']} earlier images changed split. Per-class deviation of the "
              "seed-0 re-split (points): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items())) + ".", "",
              "Threshold (`split --threshold`): what a lower one catches, and what it costs — images grouped with a "
              "*different* photo of the dataset (look-alikes, not copies), and balance.", "",
              "| threshold | harder edits grouped | harder edits across splits | light edits across splits | "
              "look-alike photos grouped | max class deviation |", "|---:|---:|---:|---:|---:|---:|"]
    harder = [k for k in KINDS if "harder" in k]
    for r in dev["sweep"]:
        got = sum(r["grouped"][k][0] for k in harder)
        total = sum(r["grouped"][k][1] for k in harder)
        lines.append(f"| {r['threshold']} | {got}/{total} | {sum(r['planted_across'].get(k, 0) for k in harder)} | "
                     f"{sum(r['planted_across'].get(k, 0) for k in light)} | {r['strangers']} | "
                     f"{r['max_deviation']:.2f} |")
    return lines + [""]


def render_synthetic(synth: dict[int, dict]) -> list[str]:
    lines = ["### Split time on synthetic collections", "",
             "benchmarks/synthetic_collection.py vectors (1 % near-copies of another row, cosine ≈ 0.97), half "
             "labelled in 20 classes, 0.1 % exact-copy rows. Each step in a fresh process (time of `make_split`; "
             "peak RSS of the process). The first split's time is almost all the near-duplicate comparison (the "
             "Duplicates page's, kept afterwards; past 100,000 images through the collection's IVF index); the "
             "re-split shows the rest. Other agents' work kept the 2 cores busy (load 10–16) during this run, so "
             "times are 2–4× what an idle machine gives.", "",
             "| step | " + " | ".join(f"{n:,} images" for n in synth) + " |", "|---|" + "---|" * len(synth)]
    rows = [("first split: compare every image, group, assign, store", "full"),
             ("re-split (the kept comparison answers)", "kept"),
             (f"after adding {GROW:,} images ({GROW // 10} near-copies of earlier ones): assign only them", "grow")]
    for title, mode in rows:
        lines.append(f"| {title} | " + " | ".join(
            f"{r[mode]['seconds']:.1f} s, {r[mode]['peak_mb'] / 1024:.2f} GB" for r in synth.values()) + " |")
    lines.append("| groups kept together / max class deviation / leaks | " + " | ".join(
        f"{r['full']['groups']['kept_together']:,} / {r['full']['max_deviation']:.2f} pt / {r['full']['leaks']}"
        for r in synth.values()) + " |")
    lines.append("| growth: earlier images kept, new assigned, leaks | " + " | ".join(
        f"{r['grow']['kept']:,}, {r['grow']['assigned']:,}, {r['grow']['leaks']}" for r in synth.values()) + " |")
    lines.append(f"| sampled leak check: {SAMPLE:,} random images' pairs ≥ threshold (exact search), across splits | "
                 + " | ".join(f"{r['check']['across']} of {r['check']['pairs']} ({r['check']['check_seconds']:.0f} s)"
                              for r in synth.values()) + " |")
    lines.append("| CSV export + dataset card (in memory) | " + " | ".join(
        f"{r['check']['export_seconds']:.1f} s ({r['check']['rows']:,} rows)" for r in synth.values()) + " |")
    return lines + [""]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/revsearch-splits"))
    p.add_argument("--sizes", default="10000,1000000", help="synthetic collection sizes ('' for none)")
    p.add_argument("--no-devset", action="store_true")
    p.add_argument("--out", type=Path, help="BENCHMARKS.md to write this program's section into")
    p.add_argument("--render-only", action="store_true", help="write the section again from WORK/splits.json")
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--mode", default="", help=argparse.SUPPRESS)
    stages.add_stage_argument(p, STAGES)
    args = p.parse_args()
    if stages.run_if_child(args, STAGES):
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    saved = args.work / "splits.json"
    if args.render_only:  # the text again from the last run's numbers
        data = json.loads(saved.read_text())
        dev, synth, seconds = data["devset"], {int(n): r for n, r in data["synthetic"].items()}, data["seconds"]
    else:
        started = time.perf_counter()
        dev = None if args.no_devset else child("devset", args)
        synth = {n: synthetic(args, n) for n in (int(s) for s in args.sizes.split(",") if s.strip())}
        seconds = time.perf_counter() - started
        saved.write_text(json.dumps({"devset": dev, "synthetic": synth, "seconds": seconds}, indent=1))
    text = render(dev, synth, seconds)
    print(text)
    if args.out:
        write_section(args.out, "splits", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
