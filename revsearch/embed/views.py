"""Input handling: how the model sees a photo. A named mode is part of what defines a collection's vector space.

`letterbox`: the whole image, aspect kept, on white in the model's square input. Every collection made before input
handling was a choice records no mode and keeps this one, for indexing and for queries alike.

`letterbox+native` (new collections): that view plus a second one — the whole image at its own aspect ratio, short
side = the model's input size — each embedded on its own; the vector is the normalised sum of the two unit vectors.
Measured (BENCHMARKS.md `input_handling`, Lite0): clothing mAP 0.517 → 0.529, wide 3:2 strips 0.486 → 0.515.

The native view's sides are multiples of STEP (the networks' total stride, 32): every stride-2 layer then sees even
sizes, so TF-"same" padding — and the exported ONNX graph — is the same for every shape, and views fall into a few
shape buckets (the long side moves in steps of 32) that batch together. Past MAX_ASPECT (2:1) the native view stays
2:1 and the image is fitted inside it on white, as the letterbox does: nothing is cut, and a panorama does not cost
four times the compute. A near-square image, whose native view would be the square input itself, is seen once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from revsearch.embed.models import ModelSpec
from revsearch.input_modes import TWO_VIEWS

STEP = 32
MAX_ASPECT = 2.0
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Prepared:
    """One image's model inputs: the square letterbox, and the native view when the mode has one and it differs."""

    square: np.ndarray  # uint8 [S, S, 3]
    native: np.ndarray | None = None  # uint8 [H, W, 3], H and W multiples of STEP


def prepare(img: Image.Image, spec: ModelSpec, mode: str) -> Prepared:
    """The inputs `mode` shows the model for one decoded image."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    return Prepared(letterbox(img, spec), native(img, spec) if mode == TWO_VIEWS else None)


def letterbox(img: Image.Image, spec: ModelSpec) -> np.ndarray:
    """The whole image, aspect kept, letterboxed on white to the model's square input, as uint8 HWC.

    No centre crop: nothing is cut away. Measured on clothing-small (Lite0, leave-one-out mAP): white letterbox
    0.517, squash 0.502, grey letterbox 0.501. White also matches how transparency is flattened.
    """
    size = spec.input_size
    if img.mode != "RGB":
        img = img.convert("RGB")
    return _fit(img, (size, size), spec.resample)


def native_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) of the native view: short side `size` (rounded to STEP), long side `size` × aspect (capped at
    MAX_ASPECT) rounded to STEP, in the image's orientation."""
    short = max(STEP, round(size / STEP) * STEP)
    aspect = min(max(width, height) / max(1, min(width, height)), MAX_ASPECT)
    long = max(short, round(short * aspect / STEP) * STEP)
    return (long, short) if width >= height else (short, long)


def native(img: Image.Image, spec: ModelSpec) -> np.ndarray | None:
    """The whole image at its own aspect (see `native_size`), or None when that is the square input itself."""
    box = native_size(*img.size, spec.input_size)
    if box == (spec.input_size, spec.input_size):
        return None
    if img.mode != "RGB":
        img = img.convert("RGB")
    width, height = img.size
    if max(width, height) / max(1, min(width, height)) <= MAX_ASPECT:
        resized = img.resize(box, _RESAMPLE[spec.resample], reducing_gap=3.0)  # stretched ≤ STEP/2 px to the grid
        return np.asarray(resized, dtype=np.uint8)
    return _fit(img, box, spec.resample)


def _fit(img: Image.Image, box: tuple[int, int], resample: str) -> np.ndarray:
    """`img` scaled to fit inside `box` (w, h), aspect kept, centred on white."""
    width, height = img.size
    if (width, height) == box:
        return np.asarray(img, dtype=np.uint8)
    scale = min(box[0] / width, box[1] / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = img.resize((new_w, new_h), _RESAMPLE[resample], reducing_gap=3.0)
    if (new_w, new_h) == box:
        return np.asarray(resized, dtype=np.uint8)
    canvas = Image.new("RGB", box, WHITE)
    canvas.paste(resized, ((box[0] - new_w) // 2, (box[1] - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def embed_prepared(run: Callable[[np.ndarray], np.ndarray], items: Sequence[Prepared], dim: int,
                   batch_size: int = 32) -> np.ndarray:
    """Prepared images → float32 [n, dim] unit vectors. `run` embeds one uint8 [n, H, W, 3] batch into unit rows.

    Square views run in batches of `batch_size`; native views are grouped by shape (few buckets, see STEP) and each
    group runs in batches of its own. Two views give the normalised sum of their two unit vectors."""
    out = np.zeros((len(items), dim), dtype=np.float32)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        out[start : start + len(chunk)] = run(np.stack([p.square for p in chunk]))
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for n, p in enumerate(items):
        if p.native is not None:
            groups[p.native.shape].append(n)
    for rows in groups.values():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            out[chunk] += run(np.stack([items[n].native for n in chunk]))
    two = [n for rows in groups.values() for n in rows]
    if two:
        out[two] /= np.linalg.norm(out[two], axis=1, keepdims=True)
    return out
