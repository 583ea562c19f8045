"""How the model should see a photo: letterbox, squash, native aspect, or two views — on portrait and wide photos.

revsearch letterboxes every photo on white to the model's square input (nothing cut, nothing distorted). That wins on
portrait product photos but wastes a third of the input on wide ones. This program measures the alternatives with
the real model (EfficientNet-Lite0 through PyTorch, so non-square inputs run as they are) on clothing-small
(leave-one-out mAP / P@10 over same-class retrieval) and on a wide proxy made from it: the central 3:2 strip of each
photo, which fills the frame as a landscape scene does (no landscape data set ships with the project).

    .venv/bin/python benchmarks/input_handling.py --out BENCHMARKS.md          # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import csv
import sys
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
from revsearch.embed import Embedder  # noqa: E402
from revsearch.embed.embedder import prepare_image  # noqa: E402
from revsearch.evaluate import retrieval_metrics  # noqa: E402

SIZE = 224


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "clothing-small")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    embedder = Embedder("efficientnet_lite0", backend="torch")
    photos, names = load(args.dataset)
    views = {
        "letterbox on white (today)": lambda im: prepare_image(im, embedder.spec),
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
