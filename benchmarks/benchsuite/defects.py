"""Planted quality defects made from real photos, one function per kind the audit names (issue 16's triage check).

Each takes an RGB photo and returns the damaged copy; strengths are chosen as a person would see the defect plainly,
relative to the photo's own size where size matters (a blur radius in pixels means nothing without the image size).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

BLUR = 0.012  # Gaussian radius as a share of the long side
DARK = 0.2  # brightness factor
LIGHT = 2.5  # brightness factor (highlights clip)
FLAT = 0.93  # share of the photo replaced by its own mean colour
THUMBNAIL = 96  # long side, pixels
ODD = 3.0  # long/short side of the strip cut from the middle


def blurry(im: Image.Image) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(max(2.0, BLUR * max(im.size))))


def dark(im: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(DARK)


def light(im: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(LIGHT)


def low_information(im: Image.Image) -> Image.Image:
    mean = tuple(int(v) for v in np.asarray(im).reshape(-1, 3).mean(axis=0))
    return Image.blend(im, Image.new("RGB", im.size, mean), FLAT)


def tiny(im: Image.Image) -> Image.Image:
    out = im.copy()
    out.thumbnail((THUMBNAIL, THUMBNAIL))
    return out


def odd_aspect(im: Image.Image) -> Image.Image:
    """A strip ODD:1 along the photo's long side, from its middle."""
    w, h = im.size
    if h >= w:
        side = round(w / ODD)
        return im.crop((0, (h - side) // 2, w, (h - side) // 2 + side))
    side = round(h / ODD)
    return im.crop(((w - side) // 2, 0, (w - side) // 2 + side, h))


def grayscale(im: Image.Image) -> Image.Image:
    return im.convert("L").convert("RGB")


KINDS = {"blurry": blurry, "dark": dark, "light": light, "low_information": low_information, "tiny": tiny,
         "odd_aspect": odd_aspect, "grayscale": grayscale}
