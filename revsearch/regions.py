"""Region queries: search with a rectangle of an image instead of the whole picture (CLI `--crop`, the app's cropper).

A region is (x, y, w, h) in pixels of the original image as displayed (after EXIF rotation). The image is decoded at
full size for a region — the fast DCT-scaled decode would change the pixel grid the coordinates refer to — and the
crop is checked against the real size, so a box outside the picture is an error that says the picture's size.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from revsearch import images
from revsearch.errors import RevsearchError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the original image


def parse_box(text: str) -> Box:
    """'x,y,w,h' → (x, y, w, h); anything else is an error showing the expected form."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise RevsearchError(f"--crop takes x,y,w,h in pixels (e.g. 10,20,200,150), not {text!r}")
    return values  # type: ignore[return-value]


def check_box(box: Box, size: tuple[int, int]) -> Box:
    """The box itself when it is a non-empty rectangle inside an image of `size` (w, h); else a clear error."""
    x, y, w, h = (int(v) for v in box)
    width, height = size
    if w <= 0 or h <= 0:
        raise RevsearchError(f"the crop {x},{y},{w},{h} is empty: its width and height must be at least 1 pixel")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise RevsearchError(f"the crop {x},{y},{w},{h} reaches outside the {width}×{height} image "
                             f"(x + w must be ≤ {width}, y + h ≤ {height})")
    return x, y, w, h


def crop(img: Image.Image, box: Box) -> Image.Image:
    """The region `box` of a decoded image (checked against its size)."""
    x, y, w, h = check_box(box, img.size)
    return img.crop((x, y, x + w, y + h))


def query_image(src: Path | str | bytes, box: Box | None = None, size: int | None = None) -> Image.Image | images.Skip:
    """A query decoded: the whole image (decoded for a model input of `size`), or the region `box` of the full-size
    decode; Skip(reason) when the file is no image we can read. A box outside the image is an error."""
    img = images.load_image(src, target=None if box is not None else size)
    if isinstance(img, images.Skip) or box is None:
        return img
    return crop(img, box)
