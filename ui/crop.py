"""A region picker for region search: two range sliders (left–right, top–bottom) in pixels of the original image, and
a live preview with the region drawn on the picture (outside it dimmed).

Plain Streamlit widgets rather than a custom component: it works offline, in AppTest and in every browser, and the
numbers it returns are the same x, y, w, h the CLI's `search --crop` takes.
"""

from __future__ import annotations

import io

import streamlit as st
from PIL import Image, ImageDraw

from revsearch.regions import Box

PREVIEW = 480  # longest side of the preview, in pixels


def preview(img: Image.Image, box: Box, size: tuple[int, int]) -> bytes:
    """JPEG of `img` (any scale of an image of `size`) with `box` outlined and the rest dimmed."""
    scale = img.width / size[0]
    x, y, w, h = (round(v * scale) for v in box)
    shown = img.convert("RGB")
    dim = Image.new("RGB", shown.size, (20, 20, 20))
    out = Image.blend(shown, dim, 0.55)
    out.paste(shown.crop((x, y, x + w, y + h)), (x, y))
    ImageDraw.Draw(out).rectangle((x, y, x + max(w, 1) - 1, y + max(h, 1) - 1), outline=(255, 75, 75),
                                  width=max(2, round(out.width / 160)))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def region_picker(img: Image.Image, size: tuple[int, int], key: str, initial: Box | None = None) -> Box | None:
    """Sliders for the region of an image of `size` (w, h); `img` is a display copy. None when the region is empty."""
    width, height = size
    x0, y0, w0, h0 = initial if initial is not None else (0, 0, width, height)
    small = img.copy()
    small.thumbnail((PREVIEW, PREVIEW))
    left, right = st.columns([3, 2], vertical_alignment="top")
    with right:
        xs = st.slider("Left – right (pixels)", 0, width, (x0, min(width, x0 + w0)), key=f"{key}_x",
                       help="the region's left and right edges in the original image")
        ys = st.slider("Top – bottom (pixels)", 0, height, (y0, min(height, y0 + h0)), key=f"{key}_y",
                       help="the region's top and bottom edges in the original image")
        box = (int(xs[0]), int(ys[0]), int(xs[1] - xs[0]), int(ys[1] - ys[0]))
        st.caption(f"Region x {box[0]}, y {box[1]}, {box[2]} × {box[3]} px of {width} × {height} "
                   f"(CLI: `--crop {box[0]},{box[1]},{box[2]},{box[3]}`)")
    with left:
        st.image(preview(small, box, size) if box[2] > 0 and box[3] > 0 else small, width="content")
    if box[2] <= 0 or box[3] <= 0:
        st.warning("The region is empty: move the sliders apart.")
        return None
    return box
