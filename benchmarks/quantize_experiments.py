#!/usr/bin/env python3
"""How the int8 graph was chosen (revsearch/embed/quantize.py): graph variants side by side on clothing-small.

Every variant of EfficientNet-Lite0's ONNX graph embeds the same decoded clothing-small photos the way the product
does (letterbox + native view, the normalised sum): per-image cosine to the product's fp32 vectors on the photos
that are not calibration photos (held out), the same on hard edits of them (inverted, saturated, dark, rotated,
noisy, high-contrast: inputs unlike the calibration set), leave-one-out mAP, and CPU ms per 224² view (batch 32, all
cores; CPU time of the process, which other processes on a shared machine disturb far less than wall time; best of
interleaved rounds). Variants:

- fp32 as exported by PyTorch (padding computed from the input's shape at run time) and with that padding folded
  (embed/graph.py; the product's fp32 graph);
- int8 of the run-time-padding graph (its shape arithmetic gets quantised too), int8 of the folded graph with every
  node quantised, then keeping the input normalisation in float, then also the convolutions reading at least half the
  input resolution (the product's recipe), and that recipe with 7-bit weights (`reduce_range`).

    .venv/bin/python benchmarks/quantize_experiments.py [--out BENCHMARKS.md]     # ~15 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchsuite.inputs import DEFAULT_DATASET  # noqa: E402
from benchsuite.sections import write_section  # noqa: E402

from revsearch import images  # noqa: E402
from revsearch.embed import Embedder  # noqa: E402
from revsearch.embed import quantize  # noqa: E402
from revsearch.embed.models import LITE0  # noqa: E402
from revsearch.embed.views import TWO_VIEWS, embed_prepared, prepare  # noqa: E402
from revsearch.evaluate import retrieval_metrics  # noqa: E402


def photos(dataset: Path) -> tuple[list, list[str], np.ndarray]:
    """(decoded photos, labels, held-out mask: not a calibration photo) of clothing-small."""
    shipped = {p.stem.split("-", 1)[1] for p in quantize.calibration_photos()}
    with open(dataset / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    decoded = [images.load_image(dataset / r["path"], target=224) for r in rows]
    held = np.array([Path(r["path"]).stem[:8] not in shipped for r in rows])
    return decoded, [r["label"] for r in rows], held


def hard_edits(decoded: list, held: np.ndarray) -> list:
    """120 held-out photos edited hard, six kinds in turn."""
    from PIL import Image, ImageEnhance, ImageOps

    rng = np.random.default_rng(1)
    picked = rng.choice(np.flatnonzero(held), 120, replace=False)
    out = []
    for n, i in enumerate(picked):
        img = decoded[i]
        kind = n % 6
        if kind == 0:
            img = ImageOps.invert(img)
        elif kind == 1:
            img = ImageEnhance.Color(img).enhance(3.0)
        elif kind == 2:
            img = ImageEnhance.Brightness(img).enhance(0.3)
        elif kind == 3:
            img = img.rotate(90, expand=True)
        elif kind == 4:
            a = np.asarray(img).astype(np.int16) + rng.normal(0, 40, np.asarray(img).shape).astype(np.int16)
            img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        else:
            img = ImageEnhance.Contrast(img).enhance(2.5)
        out.append(img)
    return out


class Graph:
    """One variant: an ONNX Runtime session run the way the embedder runs it."""

    def __init__(self, name: str, path: Path, embedder: Embedder) -> None:
        self.name, self.path, self.session = name, path, embedder._session(path)

    def embed(self, decoded: list) -> np.ndarray:
        def run(batch: np.ndarray) -> np.ndarray:
            return self.session.run(None, {"images": batch})[0]

        return embed_prepared(run, [prepare(img, LITE0, TWO_VIEWS) for img in decoded], LITE0.dim)

    def cpu_ms_per_view(self, batch: np.ndarray) -> float:
        """CPU time (every thread of this process) of one batch, per view."""
        self.session.run(None, {"images": batch})
        t = time.process_time()
        for _ in range(3):
            self.session.run(None, {"images": batch})
        return (time.process_time() - t) / (3 * len(batch)) * 1e3


def export_unfolded(embedder: Embedder, target: Path) -> None:
    """The graph as PyTorch exports it (what the product's export does before folding the padding)."""
    import torch

    net = embedder.net.to(memory_format=torch.contiguous_format)
    torch.onnx.export(net, (torch.zeros((2, 224, 224, 3), dtype=torch.uint8),), str(target), input_names=["images"],
                      output_names=["vectors"], dynamic_axes={"images": {0: "n", 1: "h", 2: "w"}, "vectors": {0: "n"}},
                      opset_version=17, dynamo=False)


def quantise(source: Path, target: Path, keep: str, reduce_range: bool = False) -> None:
    """int8 of `source` with the product's calibration; `keep` in float: 'none', 'norm' (nodes before the first
    convolution) or 'recipe' (quantize.float_nodes)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = target.with_suffix(".prepared.onnx")
    quant_pre_process(str(source), str(prepared))
    excluded = quantize.float_nodes(prepared, LITE0)
    if keep == "norm":
        excluded = [n for n in excluded if "Conv" not in n]
    elif keep == "none":
        excluded = []
    reader = quantize.calibration_reader(list(quantize.calibration_batches(LITE0)))
    quantize_static(str(prepared), str(target), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded)
    prepared.unlink()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    started = time.perf_counter()
    embedder = Embedder("efficientnet_lite0", precision="fp32")
    decoded, labels, held = photos(args.dataset)
    edits = hard_edits(decoded, held)
    with tempfile.TemporaryDirectory(prefix="revsearch-quant-") as tmp_name:
        tmp = Path(tmp_name)
        unfolded = tmp / "fp32-unfolded.onnx"
        export_unfolded(embedder, unfolded)
        folded = embedder.onnx_path()
        variants = [("fp32, padding computed at run time (PyTorch's export)", unfolded, None),
                    ("fp32, padding folded (product fp32)", folded, None),
                    ("int8 of the run-time-padding graph, every node", tmp / "a.onnx", (unfolded, "none", False)),
                    ("int8, padding folded, every node", tmp / "b.onnx", (folded, "none", False)),
                    ("… input normalisation in float", tmp / "c.onnx", (folded, "norm", False)),
                    ("… and convolutions at ≥ ½ resolution in float (product int8)", tmp / "d.onnx",
                     (folded, "recipe", False)),
                    ("product int8 with 7-bit weights (reduce_range)", tmp / "e.onnx", (folded, "recipe", True))]
        graphs = []
        for name, path, recipe in variants:
            if recipe is not None:
                print(f"quantising: {name}", flush=True)
                quantise(recipe[0], path, recipe[1], recipe[2])
            graphs.append(Graph(name, path, embedder))
        reference = graphs[1]
        ref_all, ref_edits = reference.embed(decoded), reference.embed(edits)
        rows = []
        for graph in graphs:
            print(f"measuring: {graph.name}", flush=True)
            vecs, edited = graph.embed(decoded), graph.embed(edits)
            cos, cos_edits = np.sum(vecs * ref_all, axis=1)[held], np.sum(edited * ref_edits, axis=1)
            rows.append([graph, cos.mean(), cos.min(), cos_edits.mean(), cos_edits.min(),
                         retrieval_metrics(vecs, labels)["mAP"]])
        batch = np.stack([prepare(img, LITE0, TWO_VIEWS).square for img in decoded[:32]])
        speeds = {g.name: [] for g in graphs}
        for _ in range(args.rounds):  # interleaved: the machine's drift hits every variant alike
            for graph in graphs:
                speeds[graph.name].append(graph.cpu_ms_per_view(batch))
    lines = ["## Precision: how the int8 graph was chosen", "",
             f"EfficientNet-Lite0 graphs on clothing-small ({len(decoded)} photos; cosine on the {int(held.sum())} "
             f"that are not calibration photos, and on {len(edits)} hard edits of them), each photo seen as the "
             "product sees it (letterbox + native view). Cosine to the product's fp32 vectors; CPU ms per 224² view at "
             f"batch 32 on all {os.cpu_count()} cores (CPU time of every thread; wall time ≈ half on an idle machine), "
             f"best of {args.rounds} interleaved rounds on a shared machine. "
             f"Produced by `benchmarks/quantize_experiments.py` in {(time.perf_counter() - started) / 60:.0f} min.",
             "", "| graph | cosine mean | cosine worst | hard edits: mean | hard edits: worst | mAP | CPU ms/view |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for graph, c_mean, c_min, e_mean, e_min, m in rows:
        lines.append(f"| {graph.name} | {c_mean:.4f} | {c_min:.4f} | {e_mean:.4f} | {e_min:.4f} | {m * 100:.2f} | "
                     f"{min(speeds[graph.name]):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        write_section(args.out, "precision", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
