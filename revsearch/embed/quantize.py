"""The int8 graph of a model: its fp32 ONNX graph quantised statically, calibrated on real photos.

int8 vectors are not fp32 vectors (per-image cosine ~0.997, see `MIN_COSINE`), so the precision is part of what
defines a collection's vector space (revsearch/precisions.py): a collection records it (collections that record none
were made in fp32) and every index and query path embeds with the collection's own.

The int8 graph (`int8_path`) is a cache next to the fp32 export, named by a digest of everything it is made from —
the fp32 graph's bytes, the calibration photos, `RECIPE`, the ONNX Runtime version — so a change to any of them
builds a new one, and a graph that exists is never rebuilt. Recipe (benchmarks/quantize_experiments.py measured
the choices on clothing-small and on hard edits of it):

- QDQ, weights int8 per output channel, activations uint8 asymmetric, ranges by MinMax over the calibration inputs.
  7-bit weights (`reduce_range`, which x86 CPUs without VNNI multiply without 16-bit saturation) were measured too:
  worst per-image cosine 0.991 → 0.970, so 8 bits; without VNNI the agreement check below guards the result.
- Kept in float: the input normalisation and every convolution reading at least half the input's resolution (the
  stem and the first blocks: few channels on large maps, where int8 errs most and saves least).
- Calibration: the 80 CC0 photos in revsearch/embed/calibration (the demo collection's, at 240 px), as the product
  sees them (letterbox and native views), and their mirror images: 300-odd inputs, shipped with the package so a
  fresh machine builds the same graph offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Iterator

import numpy as np

from revsearch.embed.models import ModelSpec
from revsearch.errors import RevsearchError

RECIPE = 1  # bump whenever the recipe changes: cached graphs of another recipe are then not used
CALIBRATION = Path(__file__).resolve().parent / "calibration"
#: A quantised graph whose vectors of the calibration photos fall below this cosine to fp32 is refused (measured:
#: mean 0.997, worst 0.991 on 641 held-out clothing photos; 0.990 on 120 hard edits of them).
MIN_COSINE = 0.98

log = logging.getLogger(__name__)


def calibration_photos() -> list[Path]:
    """The shipped calibration photos, in name order."""
    photos = sorted(p for p in CALIBRATION.glob("*.jpg") if p.is_file())
    if not photos:
        raise RevsearchError(f"no calibration photos in {CALIBRATION}: the int8 graph cannot be built "
                             "(reinstall revsearch, or use --precision fp32)")
    return photos


def int8_path(fp32_graph: Path) -> Path:
    """Where the int8 graph made from `fp32_graph` lives: beside it, named by the digest of its sources."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"recipe {RECIPE} onnxruntime {version('onnxruntime')}\n".encode())
    for path in (fp32_graph, *calibration_photos()):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return fp32_graph.with_name(f"{fp32_graph.stem}-int8-{digest.hexdigest()}.onnx")


def calibration_batches(spec: ModelSpec) -> Iterator[np.ndarray]:
    """uint8 batches of the calibration inputs: each photo and its mirror image, letterbox and native views, the
    views of one shape together (one batch per shape)."""
    from PIL import ImageOps

    from revsearch import images
    from revsearch.embed.views import TWO_VIEWS, prepare

    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for path in calibration_photos():
        img = images.load_image(path, target=spec.input_size)
        if isinstance(img, images.Skip):
            raise RevsearchError(f"calibration photo {path} is unreadable: {img.reason}")
        for view in (img, ImageOps.mirror(img)):
            prepared = prepare(view, spec, TWO_VIEWS)
            for array in (prepared.square, prepared.native):
                if array is not None:
                    by_shape.setdefault(array.shape, []).append(array)
    for arrays in by_shape.values():
        yield np.stack(arrays)


def build_int8(fp32_graph: Path, target: Path, spec: ModelSpec, session_for) -> None:  # type: ignore[no-untyped-def]
    """Quantise `fp32_graph` into `target` (renamed into place only after its vectors of the calibration photos
    agree with fp32's within MIN_COSINE). `session_for(path)` opens a graph the way the embedder runs it."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    log.warning("building the int8 graph of %s once (about a minute): %s", spec.name, target.name)
    batches = list(calibration_batches(spec))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_graph), str(prepared))
        built = Path(tmp) / "int8.onnx"
        quantize_static(str(prepared), str(built), calibration_reader(batches), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=float_nodes(prepared, spec))
        _check_agreement(session_for(fp32_graph), session_for(built), batches)
        os.replace(built, target)


def calibration_reader(batches: list[np.ndarray]):  # type: ignore[no-untyped-def]
    """ONNX Runtime's calibration reader over prepared batches (the graph's input is named "images")."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.pending = iter(batches)

        def get_next(self) -> dict | None:
            batch = next(self.pending, None)
            return None if batch is None else {"images": batch}

    return Reader()


def float_nodes(graph: Path, spec: ModelSpec) -> list[str]:
    """Nodes left in float: everything before the first convolution (the input normalisation) and every
    convolution whose input is at least half the model's input resolution (measured by running the graph once)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = onnx.load(str(graph))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    if not convs:
        return []
    first = next(i for i, n in enumerate(model.graph.node) if n.op_type == "Conv")
    keep = [n.name for n in model.graph.node[:first]]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph_inputs = {i.name for i in model.graph.input}
    wanted = [n.input[0] for n in convs if n.input[0] not in graph_inputs]
    for name in dict.fromkeys(wanted):
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    size = spec.input_size
    shapes = dict(zip(wanted, (a.shape for a in session.run(
        wanted, {"images": np.zeros((1, size, size, 3), np.uint8)}))))
    for node in convs:
        height = shapes[node.input[0]][2] if node.input[0] in shapes else size
        if height * 2 >= size:
            keep.append(node.name)
    return keep


def _check_agreement(fp32, int8, batches: list[np.ndarray]) -> None:  # type: ignore[no-untyped-def]
    """Refuse a quantised graph whose vectors of the calibration inputs stray from fp32's."""
    worst = 1.0
    for batch in batches:
        for start in range(0, len(batch), 32):
            part = batch[start : start + 32]
            cos = np.sum(fp32.run(None, {"images": part})[0] * int8.run(None, {"images": part})[0], axis=1)
            worst = min(worst, float(cos.min()))
    if worst < MIN_COSINE:
        raise RevsearchError(f"the int8 graph disagrees with fp32 (cosine {worst:.4f} < {MIN_COSINE} on a "
                             "calibration photo); not used — use --precision fp32")
