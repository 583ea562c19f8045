"""How good are clusters, cluster-bootstrapped labels, suggestions and the near-duplicate threshold on clothing-small?

    .venv/bin/python benchmarks/explore_quality.py [--dataset ../shared/datasets/clothing-small]
                                                   [--collection /tmp/cs-explore] [--skip-umap] [--skip-duplicates]

Builds the collection if it does not exist (`python -m revsearch index DATASET --collection DIR`), works on a private
copy of it (nothing in DIR changes), and prints one table per question:

1. k-means vs the true classes (labels.csv: path,label,split): purity and NMI for k = 10 and a few other k, plus the
   silhouette-suggested k.
2. The bootstrapping story: cluster, name each cluster after its majority class, export as ImageFolder, and count
   how many exported files sit in the folder of their true class. Then the same with k-NN suggestions accepted on top.
3. Suggestions on a half-labelled collection: accuracy and coverage per confidence threshold.
4. Near-duplicate threshold: top-1 similarity distribution, edited copies (resized, re-encoded, cropped, brightened)
   against their original, and nearest same-class photos.
5. UMAP time on all points (fresh process: includes numba compilation) and transform of new points.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from revsearch import clusters, export, labels, near_duplicates  # noqa: E402
from revsearch.collection import Collection  # noqa: E402


def table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in header]] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}")
    for n, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def purity(truth: list[str], assign: np.ndarray) -> float:
    total = 0
    for c in np.unique(assign):
        total += Counter(t for t, a in zip(truth, assign) if a == c).most_common(1)[0][1]
    return total / len(truth)


def truth_of(dataset: Path) -> dict[str, str]:
    with open(dataset / "labels.csv", newline="") as fh:
        return {str((dataset / r["path"]).resolve()): r["label"] for r in csv.DictReader(fh)}


def work_copy(src: Path, tmp: Path, name: str) -> Collection:
    dst = tmp / name
    shutil.copytree(src, dst)
    return Collection.open(dst)


def section_clusters(coll: Collection, truth: dict[str, str]) -> None:
    from sklearn.metrics import normalized_mutual_info_score

    ids, vectors = coll.vectors()
    paths = coll.paths(ids.tolist())
    y = [truth.get(paths[int(i)], "?") for i in ids]
    rows = []
    started = time.perf_counter()
    suggestion = clusters.suggest_k(coll)
    suggest_s = time.perf_counter() - started
    for k in sorted({5, 10, 15, 20, 30, suggestion.best}):
        t = time.perf_counter()
        fit = clusters.kmeans(vectors, k)
        rows.append([k, purity(y, fit.assign), normalized_mutual_info_score(y, fit.assign),
                     time.perf_counter() - t, "silhouette best" if k == suggestion.best else ""])
    table(f"k-means vs true classes ({len(y)} images, {len(set(y))} classes)",
          ["k", "purity", "NMI", "seconds", "note"], rows)
    top = sorted(suggestion.scores.items(), key=lambda kv: -kv[1])[:6]
    print(f"silhouette (cosine) over k = {min(suggestion.scores)}…{max(suggestion.scores)} in {suggest_s:.1f} s; "
          f"best: " + ", ".join(f"k={k}: {s:.3f}" for k, s in top))
    fit_a, fit_b = clusters.kmeans(vectors, 10), clusters.kmeans(vectors, 10)
    print(f"k=10 twice with the same seed: identical assignments = {bool((fit_a.assign == fit_b.assign).all())}")


def section_bootstrap(src: Path, tmp: Path, truth: dict[str, str]) -> None:
    rows = []
    for k in (10, 20):
        coll = work_copy(src, tmp, f"boot{k}")
        result = clusters.recluster(coll, k)
        for c in result.clusters:
            member_paths = coll.paths(c.member_ids)
            majority = Counter(truth.get(member_paths[i], "?") for i in c.member_ids).most_common(1)[0][0]
            labels.name_cluster(coll, c.id, majority)
        distinct = len(set(labels.labels(coll).values()))
        out = tmp / f"export{k}"
        export.export_imagefolder(coll, out)
        correct, total = _score_export(coll, out, truth)
        missing = sorted(set(truth.values()) - set(labels.labels(coll).values()))
        rows.append([f"k={k}, cluster majority", total, correct, correct / total, distinct,
                     ", ".join(missing) or "-"])
        # … then accept confident suggestions after un-labelling the least cohesive half of each cluster's tail
        for threshold in (0.9,):
            for c in result.clusters:
                tail = [i for i in clusters.members(coll, c.id)][int(len(c.member_ids) * 0.8):]
                labels.unlabel_images(coll, [m.id for m in tail])
            accepted = labels.accept_suggestions(coll, threshold)
            out2 = tmp / f"export{k}-s"
            export.export_imagefolder(coll, out2)
            correct2, total2 = _score_export(coll, out2, truth)
            rows.append([f"k={k}, majority on 80 % closest + suggestions ≥ {threshold} ({accepted} accepted)",
                         total2, correct2, correct2 / total2, distinct, ""])
        coll.close()
    table("bootstrapping: name clusters by majority class, export ImageFolder, check each exported file",
          ["how", "exported", "correct", "accuracy", "labels", "classes never a majority"], rows)


def _score_export(coll: Collection, out: Path, truth: dict[str, str]) -> tuple[int, int]:
    """Each exported file: is its folder its original's true class? (originals found via size+hash of content)."""
    from revsearch.files import content_hash

    by_hash: dict[str, list[str]] = {}
    for r in coll.rows():
        if r.hash:
            by_hash.setdefault(r.hash, []).append(r.path)
    correct = total = 0
    for f in out.rglob("*"):
        if not f.is_file():
            continue
        total += 1
        originals = by_hash.get(content_hash(f), [])
        if any(truth.get(p) == f.parent.name for p in originals):
            correct += 1
    return correct, total


def section_suggestions(src: Path, tmp: Path, truth: dict[str, str]) -> None:
    coll = work_copy(src, tmp, "suggest")
    ids, _ = coll.vectors()
    paths = coll.paths(ids.tolist())
    by_class: dict[str, list[int]] = {}
    for i in ids:
        by_class.setdefault(truth.get(paths[int(i)], "?"), []).append(int(i))
    for label, members in by_class.items():
        labels.label_images(coll, members[: len(members) // 2], label)
    sugg = labels.suggest(coll)
    rows = []
    for t in (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99):
        chosen = [s for s in sugg if s.confidence >= t]
        ok = sum(1 for s in chosen if truth.get(s.path) == s.label)
        rows.append([t, len(chosen), f"{len(chosen) / len(sugg):.0%}", ok / max(1, len(chosen))])
    table(f"suggestions with half of each class labelled ({len(sugg)} unlabelled)",
          ["confidence ≥", "suggested", "coverage", "accuracy"], rows)
    coll.close()


def edits(img: Image.Image) -> dict[str, Image.Image]:
    w, h = img.size

    def jpeg(im: Image.Image, q: int) -> Image.Image:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    def crop(frac: float, dx: float = 0.5, dy: float = 0.5) -> Image.Image:
        cw, ch = int(w * frac), int(h * frac)
        x0, y0 = int((w - cw) * dx), int((h - ch) * dy)
        return img.crop((x0, y0, x0 + cw, y0 + ch))

    return {
        "resized 50 %": img.resize((w // 2, h // 2), Image.Resampling.BICUBIC),
        "resized 25 %": img.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.BICUBIC),
        "JPEG q=40": jpeg(img, 40),
        "crop 95 % centre": crop(0.95),
        "crop 90 % corner": crop(0.90, 0.0, 0.0),
        "crop 80 % centre": crop(0.80),
        "brightness +15 %": ImageEnhance.Brightness(img).enhance(1.15),
        "resize 50 % + q=60 + crop 95 %": jpeg(crop(0.95).resize((w // 2, h // 2)), 60),
        "mirrored": img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    }


def section_duplicates(coll: Collection, truth: dict[str, str], n_photos: int = 60) -> None:
    from revsearch import images
    from revsearch.embed import Embedder
    from revsearch.search import Searcher

    ids, vectors = coll.vectors()
    paths = coll.paths(ids.tolist())
    _, top1 = near_duplicates.top1_similarities(coll)
    pct = np.percentile(top1, [50, 90, 95, 99, 99.5, 100])
    print("\n## near-duplicate threshold evidence")
    print(f"top-1 similarity to another photo ({len(top1)} photos): median {pct[0]:.3f}, p90 {pct[1]:.3f}, "
          f"p95 {pct[2]:.3f}, p99 {pct[3]:.3f}, p99.5 {pct[4]:.3f}, max {pct[5]:.3f}")
    for t in (0.85, 0.88, 0.90, 0.92, 0.95):
        print(f"  photos whose nearest other photo scores ≥ {t:.2f}: {int((top1 >= t).sum())} "
              f"({(top1 >= t).mean():.1%})")
    y = np.array([truth.get(paths[int(i)], "?") for i in ids])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    same = np.where(y[:, None] == y[None, :], sims, -1).max(axis=1)
    print(f"nearest same-class photo: median {np.median(same):.3f}, p95 {np.percentile(same, 95):.3f}, "
          f"share ≥ 0.90: {(same >= 0.90).mean():.1%}")
    embedder = Embedder(coll.model)
    searcher = Searcher(coll, embedder)
    rng = np.random.default_rng(0)
    picked = rng.choice(len(ids), min(n_photos, len(ids)), replace=False)
    scores: dict[str, list[float]] = {}
    for n in picked:
        img = images.load_image(paths[int(ids[n])], target=None)
        variants = edits(img)
        q = searcher.embed(list(variants.values()))
        for name, s in zip(variants, q @ vectors[n]):
            scores.setdefault(name, []).append(float(s))
    default = near_duplicates.default_threshold(coll)
    rows = [[name, min(v), float(np.percentile(v, 5)), float(np.median(v)), float(np.mean(np.array(v) >= default))]
            for name, v in scores.items()]
    table(f"edited copies vs their original ({len(picked)} photos)",
          ["edit", "min", "p5", "median", f"≥ {default:.2f} (default threshold)"], rows)
    with tempfile.TemporaryDirectory() as tmp:
        copy = work_copy(coll.directory, Path(tmp), "dups")
        for t in sorted({0.88, 0.90, 0.92, default}):
            groups = near_duplicates.find_duplicates(copy, t)
            print(f"find_duplicates at {t:.2f} on the dataset itself: {len(groups)} groups, "
                  f"{sum(len(g.members) for g in groups)} images "
                  f"({sum(1 for g in groups if g.exact)} exact)")
        copy.close()


def section_umap(src: Path, tmp: Path) -> None:
    script = f"""
import sys, time, shutil
sys.path.insert(0, {str(ROOT)!r})
from revsearch.collection import Collection, NewRow
from revsearch import projection
c = Collection.open({str(tmp / 'umap')!r})
ids, vecs = c.vectors()
t = time.perf_counter(); u = projection.update_map(c); fit = time.perf_counter() - t
t = time.perf_counter(); again = projection.update_map(c); cached = time.perf_counter() - t
t = time.perf_counter(); refit = projection.update_map(c, force=True); refit_s = time.perf_counter() - t
# 30 images arrive as new: the same files removed and added back (new ids, so the map must place them)
back = [c.get(int(i)) for i in ids[:30]]
c.remove(ids[:30].tolist())
c.add_rows([NewRow(r.path, r.hash, r.size, r.mtime_ns, r.width, r.height) for r in back], vecs[:30])
t = time.perf_counter(); tr = projection.update_map(c); tr_s = time.perf_counter() - t
print(f"{{u.points}}|{{u.method}}|{{fit:.2f}}|{{again.action}}|{{cached*1000:.2f}}|{{refit_s:.2f}}|{{tr.action}}|{{tr.placed}}|{{tr_s:.2f}}")
"""
    shutil.copytree(src, tmp / "umap")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    points, method, fit, action, cached_ms, refit_s, tr_action, placed, tr_s = out.strip().splitlines()[-1].split("|")
    table("map (fresh process, 2-D, cosine, seed 0)", ["step", "seconds", "note"], [
        [f"{method} fit of {points} points", float(fit), "includes import + numba compilation"],
        ["second call", float(cached_ms) / 1000, action],
        ["forced refit, same process", float(refit_s), "compiled already"],
        [f"transform of {placed} new points", float(tr_s), tr_action],
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "clothing-small")
    parser.add_argument("--collection", type=Path, default=Path(tempfile.gettempdir()) / "cs-explore")
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--skip-duplicates", action="store_true")
    parser.add_argument("--precision", choices=("fp32", "int8"),
                        help="of the collection when this builds it (default: the model's)")
    args = parser.parse_args()
    dataset = args.dataset.resolve()
    if not Collection.exists(args.collection):
        subprocess.run([sys.executable, "-m", "revsearch", "index", str(dataset), "--collection",
                        str(args.collection), "-q", *(["--precision", args.precision] if args.precision else [])],
                       check=True, cwd=ROOT)
    truth = truth_of(dataset)
    src = Collection.open(args.collection)
    print(f"collection {src.directory}: {src.model}, input {src.input_mode}, {src.precision}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        section_clusters(src, truth)
        section_bootstrap(src.directory, tmp, truth)
        section_suggestions(src.directory, tmp, truth)
        if not args.skip_duplicates:
            section_duplicates(src, truth)
        if not args.skip_umap:
            section_umap(src.directory, tmp)
    src.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
