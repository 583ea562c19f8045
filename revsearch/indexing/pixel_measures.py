"""Pixel quality measures of one decoded image: brightness, contrast, colour, sharpness — numbers, not verdicts.

Measured where indexing already holds the decoded pixels (revsearch/indexing/sync.py `load_file`), so a collection
knows them without reading its files again; collections indexed before measures existed get them on demand
(revsearch/audit/measuring.py). What counts as dark, blurred or flat is decided later, over the whole collection
(revsearch/audit/quality.py): these are only the measurements.

Cost matters (issue 16: at most 5 % of indexing time), so the image is first shrunk by an integer box reduction to a
long side of at most SIDE pixels (Pillow's `reduce`, a few tenths of a millisecond), and every statistic comes from
Pillow histograms or a few numpy passes over that small greyscale copy. The shrink also normalises resolution: the
sharpness measure compares images at about the same scale, whatever their size on disk.

Measures (all 0–1 except `entropy`, in bits 0–8):
- brightness: mean luma; shadows / midtone / highlights: its 5th, 50th and 95th percentiles;
- contrast: standard deviation of luma; entropy: of the 256-level luma histogram;
- clipped: share of pixels at pure white (≥ 250 of 255);
- colour: 95th percentile of the chroma deviation (|Cb − 128|, |Cr − 128|) over 128 — 0 for a grey picture;
- blur: Crete et al. (2007), "The blur effect": how little of the image's local contrast a further blur removes.
  0 is sharp (re-blurring destroys much of the detail), 1 is blurred already (nothing left to destroy). Being a ratio,
  it depends far less on content than the variance of the Laplacian does.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

VERSION = 1  # bump when a measure changes: stored measures of another version are recomputed
NAMES = ("brightness", "shadows", "midtone", "highlights", "contrast", "entropy", "clipped", "colour", "blur")
SIDE = 192  # long side (pixels) the measures are taken at
BLUR_RADIUS = 2  # the re-blur of the sharpness measure (box radius at SIDE)
_LEVELS = np.arange(256, dtype=np.float64) / 255.0
_CHROMA = np.abs(np.arange(256) - 128)


def measure(img: Image.Image) -> np.ndarray:
    """The measures (float32, in NAMES order) of one decoded image."""
    small = _shrink(img.convert("RGB") if img.mode != "RGB" else img)
    gray = small.convert("L")
    hist = np.asarray(gray.histogram(), dtype=np.float64)
    total = hist.sum()
    cdf = np.cumsum(hist) / total
    mean = float(hist @ _LEVELS) / total
    shares = hist[hist > 0] / total
    values = (
        mean,
        _quantile(cdf, 0.05), _quantile(cdf, 0.50), _quantile(cdf, 0.95),
        float(np.sqrt(max(float(hist @ (_LEVELS - mean) ** 2) / total, 0.0))),
        float(-(shares * np.log2(shares)).sum()),
        float(hist[250:].sum() / total),
        _colour(small),
        _blur(gray),
    )
    return np.asarray(values, dtype=np.float32)


def as_dict(values: np.ndarray) -> dict[str, float]:
    return {name: round(float(v), 4) for name, v in zip(NAMES, values)}


def _shrink(img: Image.Image) -> Image.Image:
    factor = -(-max(img.size) // SIDE)  # ceil: the long side ends at most SIDE
    return img.reduce(factor) if factor > 1 else img


def _quantile(cdf: np.ndarray, q: float) -> float:
    return float(np.searchsorted(cdf, q)) / 255.0


def _colour(small: Image.Image) -> float:
    """95th percentile of the chroma deviation, on a copy halved once more (colour needs no detail)."""
    tiny = small.reduce(2) if min(small.size) >= 32 else small
    _, cb, cr = tiny.convert("YCbCr").split()
    hist = (np.bincount(_CHROMA, weights=cb.histogram(), minlength=129)
            + np.bincount(_CHROMA, weights=cr.histogram(), minlength=129))
    return float(np.searchsorted(np.cumsum(hist), 0.95 * hist.sum())) / 128.0


def _blur(gray: Image.Image) -> float:
    """Crete's blur measure: the share of neighbour differences a box blur leaves in place, worst direction."""
    sharp = np.asarray(gray, dtype=np.int16)
    soft = np.asarray(gray.filter(ImageFilter.BoxBlur(BLUR_RADIUS)), dtype=np.int16)
    worst = 0.0
    for axis in (0, 1):
        if sharp.shape[axis] < 2:
            return 1.0
        d_sharp = np.abs(np.diff(sharp, axis=axis))
        d_soft = np.abs(np.diff(soft, axis=axis))
        total = int(d_sharp.sum())
        if total == 0:  # a flat picture has no detail to lose
            return 1.0
        lost = int(np.maximum(d_sharp - d_soft, 0).sum())
        worst = max(worst, (total - lost) / total)
    return worst
