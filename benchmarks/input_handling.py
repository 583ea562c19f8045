"""How the model should see a photo: letterbox, squash, native aspect, or two views — on portrait and wide photos.

revsearch used to letterbox every photo on white to the model's square input (nothing cut, nothing distorted). That
wins on portrait product photos but wastes a third of the input on wide ones. This program measures the alternatives
with the real model (EfficientNet-Lite0 through PyTorch, so non-square inputs run as they are) on clothing-small
(leave-one-out mAP / P@10 over same-class retrieval) and on a wide proxy made from it: the central 3:2 strip of each
photo, which fills the frame as a landscape scene does (no landscape data set ships with the project).

`--adopted` measures what the product now does (revsearch/embed/views.py, the default backend): both input modes'
quality on the same two sets, and indexing throughput (`index_folder`: hash, decode, prepare, embed, commit) of each
mode on the same images in the same run, alternating, three rounds (the speed ratio: the median of the rounds').

    .venv/bin/python benchmarks/input_handling.py --out BENCHMARKS.md             # ~10 min on 2 cores
    .venv/bin/python benchmarks/input_handling.py --adopted --out BENCHMARKS.md   # ~3 min
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchsuite.sections import write_section  # noqa: E402
from revsearch import images  # noqa: E402
from revsearch.collection import Collection  # noqa: E402
from revsearch.indexing import index_folder  # noqa: E402
from revsearch.embed import Embedder  # noqa: E402
from revsearch.embed.views import letterbox, native_size  # noqa: E402
from revsearch.input_modes import INPUT_MODES, LETTERBOX, TWO_VIEWS  # noqa: E402
from revsearch.evaluate import retrieval_metrics  # noqa: E402

SIZE = 224
ROUNDS = 3  # throughput rounds of --adopted, the two modes alternating


def load(dataset: Path) -> tuple[list[Image.Image], list[str]]:
    photos, names = [], []
    with open(dataset / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            im = images.load_image(dataset / row["path"], target=None)
            if isinstance(im, images.Skip):
                continue
            im = im.convert("RGB")
            im.thumbnail((640, 640))
            photos.append(im)
            names.append(row["label"])
    return photos, names


def drafts(dataset: Path) -> tuple[list[Image.Image], list[str]]:
    """The photos as indexing and `revsearch eval` decode them (JPEG draft to a short side ≥ 224)."""
    photos, names = [], []
    with open(dataset / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            im = images.load_image(dataset / row["path"], target=224)
            if not isinstance(im, images.Skip):
                photos.append(im)
                names.append(row["label"])
    return photos, names


def wide(im: Image.Image, ratio: float = 1.5) -> Image.Image:
    """The central strip of `ratio` width:height (a portrait photo becomes a landscape one that fills its frame)."""
    w, h = im.size
    if w / h >= ratio:
        return im
    nh = round(w / ratio)
    top = (h - nh) // 2
    return im.crop((0, top, w, top + nh))


def native(im: Image.Image, side: str) -> np.ndarray:
    """The whole photo at its own aspect: short side (or the square root of the area) 224, sides multiples of 32."""
    w, h = im.size
    s = SIZE / min(w, h) if side == "short" else SIZE / (w * h) ** 0.5
    size = (max(32, round(w * s / 32) * 32), max(32, round(h * s / 32) * 32))
    return np.asarray(im.resize(size, Image.BICUBIC))


def embed_all(embedder: Embedder, arrays: list[np.ndarray]) -> np.ndarray:
    """Same-shape inputs batched together (native-aspect inputs come in a few shapes)."""
    import torch

    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, a in enumerate(arrays):
        groups[a.shape].append(i)
    out = np.zeros((len(arrays), embedder.dim), np.float32)
    with torch.inference_mode():
        for idx in groups.values():
            for s in range(0, len(idx), 32):
                chunk = idx[s : s + 32]
                out[chunk] = embedder.net(torch.from_numpy(np.stack([arrays[i] for i in chunk]))).numpy()
    return out


def throughput(embedder: Embedder, mode: str, folder: Path, scratch: Path) -> tuple[float, float]:
    """(images per second, CPU ms per image over all of this process's threads) of a fresh collection indexing
    `folder` with input handling `mode`. CPU time hardly moves with the load of the machine's other users."""
    target = Path(tempfile.mkdtemp(dir=scratch)) / "coll"
    cpu = time.process_time()
    with Collection.create(target, embedder.name, embedder.fingerprint, embedder.dim, input_mode=mode) as coll:
        report = index_folder(coll, folder, embedder)
    cpu = time.process_time() - cpu
    shutil.rmtree(target.parent)
    return report.embedded / report.seconds, cpu * 1000 / report.embedded


def adopted(args: argparse.Namespace) -> str:
    """Quality and indexing throughput of each input mode as the product runs it."""
    embedder = Embedder("efficientnet_lite0")
    photos, names = load(args.dataset)
    indexed, indexed_names = drafts(args.dataset)
    started = time.perf_counter()
    quality: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for mode in INPUT_MODES:
        for set_name, inputs, labels in (("clothing", photos, names), ("wide", [wide(im) for im in photos], names),
                                         ("eval", indexed, indexed_names)):
            m = retrieval_metrics(embedder.for_input(mode).embed_images(inputs), labels)
            quality[mode][set_name] = (m["mAP"], float(m["P@10"]))
            print(f"{mode:18s} {set_name:9s} mAP {m['mAP']:.4f}  P@10 {m['P@10']:.4f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="input-bench-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        with open(args.dataset / "labels.csv", newline="") as fh:
            for n, row in enumerate(list(csv.DictReader(fh))[: args.images]):
                shutil.copy2(args.dataset / row["path"], folder / f"{n:04d}{Path(row['path']).suffix}")
        throughput(embedder, TWO_VIEWS, folder, Path(tmp))  # warm-up: ONNX Runtime meets every shape once
        rates: dict[str, list[float]] = defaultdict(list)
        cpu: dict[str, list[float]] = defaultdict(list)
        for _ in range(ROUNDS):
            for mode in INPUT_MODES:
                rate, ms = throughput(embedder, mode, folder, Path(tmp))
                rates[mode].append(rate)
                cpu[mode].append(ms)
                print(f"{mode:18s} {rate:.1f} img/s, {ms:.1f} CPU ms/img", flush=True)
    best = {mode: max(r) for mode, r in rates.items()}
    ratio = float(np.median([two / one for one, two in zip(rates[LETTERBOX], rates[TWO_VIEWS])]))
    cost = {mode: float(np.median(ms)) for mode, ms in cpu.items()}
    side = embedder.input_size
    shapes = [native_size(*im.size, side) for im in indexed]
    pixels = sum(1 + (w * h / side**2 if (w, h) != (side, side) else 0) for w, h in shapes) / len(shapes)
    lines = ["## Input handling adopted: letterbox + native view", "",
             f"What the product runs (revsearch/embed/views.py; EfficientNet-Lite0, {embedder.backend} backend). "
             f"New collections use `{TWO_VIEWS}`; collections that record no mode keep `{LETTERBOX}`. Quality: "
             f"{len(names)} clothing-small photos (640 px) and their central 3:2 strips, leave-one-out same-class "
             "retrieval; `eval mAP`: the photos decoded as indexing decodes them, what `revsearch eval` reports. "
             f"Throughput: `index_folder` of the first {args.images} clothing-small photos into a fresh collection "
             f"(hash, decode, prepare, embed, commit), both modes alternating in the same run, best of {ROUNDS} "
             f"rounds, 2 shared cores. {time.perf_counter() - started:.0f} s.", "",
             "| input | clothing mAP | clothing P@10 | wide mAP | wide P@10 | eval mAP | index img/s | rounds | "
             "CPU ms/img |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for mode in INPUT_MODES:
        (cm, cp), (wm, wp), (em, _) = (quality[mode][key] for key in ("clothing", "wide", "eval"))
        lines.append(f"| {mode} | {cm:.4f} | {cp:.4f} | {wm:.4f} | {wp:.4f} | {em:.4f} | {best[mode]:.1f} | "
                     f"{' / '.join(f'{r:.1f}' for r in rates[mode])} | {cost[mode]:.1f} |")
    lines += ["", f"Two views cost {cost[TWO_VIEWS] / cost[LETTERBOX]:.2f}× the letterbox's CPU time per image "
              f"(median of {ROUNDS} rounds; all threads of the process: decode, model, commit) and index at "
              f"{ratio:.2f}× its speed (median of the rounds' wall-clock ratios; the machine's load moves these). The "
              f"model sees {pixels:.2f}× the pixels per clothing-small photo: the native view, short side {side}, is "
              f"a second inference, skipped for the {sum(s == (side, side) for s in shapes)} near-square photos of "
              f"{len(shapes)}; native views of one shape are batched together."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "clothing-small")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--adopted", action="store_true", help="measure the product's input modes (quality + speed)")
    ap.add_argument("--images", type=int, default=200, help="photos indexed per throughput run (--adopted)")
    args = ap.parse_args()
    if args.adopted:
        text = adopted(args)
        print(text)
        if args.out:
            write_section(args.out, "input_handling_adopted", text)
        return 0
    embedder = Embedder("efficientnet_lite0", backend="torch")
    photos, names = load(args.dataset)
    views = {
        "letterbox on white (today)": lambda im: letterbox(im, embedder.spec),
        "squash to 224×224": lambda im: np.asarray(im.resize((SIZE, SIZE), Image.BICUBIC)),
        "native aspect, short side 224": lambda im: native(im, "short"),
        "native aspect, area 224²": lambda im: native(im, "area"),
    }
    sets = {"clothing (portrait)": lambda im: im, "wide 3:2 strips": wide}
    rows: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    started = time.perf_counter()
    for set_name, transform in sets.items():
        vectors = {}
        for view, fn in views.items():
            vectors[view] = embed_all(embedder, [fn(transform(im)) for im in photos])
        base = vectors["letterbox on white (today)"]
        for view in list(views)[1:]:
            both = base + vectors[view]
            vectors[f"two views: letterbox + {view}"] = both / np.linalg.norm(both, axis=1, keepdims=True)
        for view, v in vectors.items():
            m = retrieval_metrics(v, names)
            rows[view][set_name] = (m["mAP"], float(m["P@10"]))
            print(f"{set_name:20s} {view:45s} mAP {m['mAP']:.4f}  P@10 {m['P@10']:.4f}", flush=True)
    lines = ["## Input handling: how the model sees a photo", "",
             f"EfficientNet-Lite0, {len(names)} clothing-small photos, leave-one-out same-class retrieval; the wide "
             "set is the central 3:2 strip of each photo. Two views = the sum of both L2-normalised vectors, "
             f"normalised (twice the inference). {time.perf_counter() - started:.0f} s.", "",
             "| input | clothing mAP | clothing P@10 | wide mAP | wide P@10 |", "|---|---:|---:|---:|---:|"]
    for view, by_set in rows.items():
        (cm, cp), (wm, wp) = by_set["clothing (portrait)"], by_set["wide 3:2 strips"]
        lines.append(f"| {view} | {cm:.4f} | {cp:.4f} | {wm:.4f} | {wp:.4f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_section(args.out, "input_handling", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
