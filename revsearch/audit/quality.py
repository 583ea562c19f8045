"""Which images have a quality problem: rules over the pixel measures of a whole collection (arrays in, names out).

Thresholds must hold on any collection, so each rule says where its number comes from:
- physics, absolute: `dark` (95 % of the pixels darker than 35 % grey), `light` (a quarter of the picture blown out
  to pure white, bright overall, no deep shadows), `low_information` (luma spread under 4.5 % of full scale: a
  near-uniform picture), `grayscale` (no chroma beyond JPEG's rounding). A collection whose style this is (over
  PREVALENT of its images: night shots, white-background product photos, black-and-white scans) is not reported
  for it; the report says so instead.
- the collection, relative: `blurry` (the blur measure, taken at one normalised resolution, a robust z-score of at
  least BLUR_Z above the collection's median and at least BLUR_FLOOR in absolute terms — so a collection of sharp
  photos does not report its softest ones, and a collection of soft ones reports only the outliers), `tiny` (the side
  of a square of its area under half the collection's median and under the models' 224-pixel input, or under 32
  pixels at all — by area, so a long thin strip is odd, not tiny),
  `odd_aspect` (long/short side at least 2 and at least ODD_FACTOR times the collection's median ratio), `outlier`
  (mean similarity to its nearest images a robust z-score of OUTLIER_Z or more below the collection's).
Robust z-scores use the median and the median absolute deviation (×1.4826), with a floor on the spread so that a very
uniform collection does not turn tiny differences into outliers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from revsearch.indexing import pixel_measures

PIXEL_ISSUES = ("blurry", "dark", "light", "low_information", "grayscale")
SIZE_ISSUES = ("tiny", "odd_aspect")
ISSUES = (*PIXEL_ISSUES, *SIZE_ISSUES, "outlier", "near_duplicate", "exact_copy")

DARK_HIGHLIGHTS = 0.35
LIGHT_CLIPPED, LIGHT_BRIGHTNESS, LIGHT_SHADOWS = 0.25, 0.65, 0.15
FLAT_CONTRAST = 0.045
GRAY_COLOUR = 0.01
BLUR_Z, BLUR_FLOOR, BLUR_SPREAD = 3.5, 0.5, 0.03
TINY_SHARE, TINY_INPUT, TINY_ALWAYS = 0.5, 224, 32
ODD_RATIO, ODD_FACTOR = 2.0, 1.6
OUTLIER_Z, OUTLIER_SPREAD = 4.0, 0.02
PREVALENT = 0.25  # share of a collection above which an absolute rule describes its style, not a defect
_COLUMN = {name: n for n, name in enumerate(pixel_measures.NAMES)}


@dataclass
class Rules:
    """The thresholds one collection was judged by, and what was not reported and why."""

    blur: float | None = None  # blur measure from which an image counts as blurry here
    tiny_side: float | None = None  # √(width × height) in pixels under which an image counts as tiny here
    odd_ratio: float | None = None  # long/short ratio from which an aspect counts as odd here
    outlier_similarity: float | None = None  # mean similarity to the nearest images under which one is an outlier
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"blur": _round(self.blur), "tiny_side": _round(self.tiny_side), "odd_ratio": _round(self.odd_ratio),
                "outlier_similarity": _round(self.outlier_similarity), "notes": self.notes}


def pixel_flags(values: np.ndarray, rules: Rules) -> dict[str, np.ndarray]:
    """issue -> bool[n] for the pixel issues of `values` [n, len(NAMES)] (one collection's measures)."""
    col = {name: values[:, n] for name, n in _COLUMN.items()}
    flat = col["contrast"] < FLAT_CONTRAST
    flags = {
        "dark": col["highlights"] < DARK_HIGHLIGHTS,
        "light": (col["clipped"] >= LIGHT_CLIPPED) & (col["brightness"] >= LIGHT_BRIGHTNESS)
                 & (col["shadows"] >= LIGHT_SHADOWS),
        "low_information": flat,
        "grayscale": col["colour"] <= GRAY_COLOUR,
    }
    for name, flag in flags.items():
        share = float(flag.mean()) if len(flag) else 0.0
        if share > PREVALENT:
            rules.notes.append(f"{name}: {share:.0%} of the images are {name.replace('_', ' ')}, the collection's "
                               "style rather than a defect; not reported")
            flags[name] = np.zeros(len(flag), dtype=bool)
    blur = col["blur"]
    judged = ~flat  # a flat picture has no detail to be sharp or blurred
    if judged.any():
        median, spread = robust(blur[judged], BLUR_SPREAD)
        rules.blur = max(BLUR_FLOOR, median + BLUR_Z * spread)
        flags["blurry"] = judged & (blur >= rules.blur)
    else:
        flags["blurry"] = np.zeros(len(blur), dtype=bool)
    return flags


def size_flags(widths: np.ndarray, heights: np.ndarray, rules: Rules) -> dict[str, np.ndarray]:
    """`tiny` and `odd_aspect` from the images' dimensions (0 where unknown: never flagged)."""
    w, h = np.asarray(widths, dtype=np.float64), np.asarray(heights, dtype=np.float64)
    known = (w > 0) & (h > 0)
    short, long, side = np.minimum(w, h), np.maximum(w, h), np.sqrt(w * h)
    none = np.zeros(len(w), dtype=bool)
    if not known.any():
        return {"tiny": none, "odd_aspect": none.copy()}
    rules.tiny_side = max(float(TINY_ALWAYS), min(TINY_SHARE * float(np.median(side[known])), float(TINY_INPUT)))
    ratio = np.divide(long, short, out=np.ones_like(long), where=known)
    rules.odd_ratio = max(ODD_RATIO, ODD_FACTOR * float(np.median(ratio[known])))
    return {"tiny": known & (side < rules.tiny_side), "odd_aspect": known & (ratio >= rules.odd_ratio)}


def outliers(similarity: np.ndarray, rules: Rules) -> np.ndarray:
    """Images much farther from their nearest images than the collection's typical image (bool[n])."""
    if len(similarity) < 10:  # too few images to say what is typical
        return np.zeros(len(similarity), dtype=bool)
    median, spread = robust(similarity, OUTLIER_SPREAD)
    rules.outlier_similarity = median - OUTLIER_Z * spread
    return similarity <= rules.outlier_similarity


def robust(values: np.ndarray, floor: float) -> tuple[float, float]:
    """(median, spread): spread = 1.4826 × median absolute deviation, at least `floor`."""
    median = float(np.median(values))
    return median, max(floor, 1.4826 * float(np.median(np.abs(values - median))))


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
