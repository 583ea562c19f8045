"""Montages (PIL): a query and its results with rank and score captions, or a cluster's representatives.

Tiles come from the collection's thumbnail cache (revsearch/thumbnails.py), so a montage of 100 results decodes no
original that was thumbnailed before. A file that cannot be read becomes a grey tile saying so, never an error.

Public API:
    query_montage(coll, query, hits, cols=5, tile=192, title=None) -> PIL.Image      query tile first, outlined
    cluster_montage(coll, cluster_id, n=16, cols=4, tile=192, outliers=4) -> PIL.Image  representatives, then
                                                                                        the farthest members
    grid(tiles, cols=5, tile=192, title=None) -> PIL.Image      tiles: Tile(image | None, caption lines, accent)
    save_png(img, path) -> Path                                  atomic write
    png_bytes(img) -> bytes
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from revsearch import images, thumbnails
from revsearch.collection import Collection
from revsearch.errors import RevsearchError

BACKGROUND = (255, 255, 255)
TEXT = (30, 30, 30)
MUTED = (110, 110, 110)
ACCENT = (220, 60, 40)
PLACEHOLDER = (225, 225, 225)
PAD = 8
FONT_SIZE = 13


@dataclass
class Tile:
    image: Image.Image | None
    caption: list[str] = field(default_factory=list)
    accent: bool = False


def _font(size: int = FONT_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, AttributeError):  # Pillow without FreeType
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def grid(tiles: Sequence[Tile], cols: int = 5, tile: int = 192, title: str | None = None) -> Image.Image:
    """Lay tiles out in rows of `cols`, each image fitted into tile × tile, captions underneath."""
    if cols < 1 or tile < 16:
        raise RevsearchError("a montage needs at least 1 column and tiles of at least 16 pixels")
    font = _font()
    line_h = FONT_SIZE + 4
    lines = max((len(t.caption) for t in tiles), default=0)
    cell_w, cell_h = tile + PAD, tile + PAD + lines * line_h
    cols = max(1, min(cols, len(tiles))) if tiles else 1
    rows = max(1, -(-len(tiles) // cols))
    top = (line_h + PAD) if title else 0
    canvas = Image.new("RGB", (PAD + cols * cell_w, PAD + top + rows * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PAD, PAD), _fit(draw, title, font, canvas.width - 2 * PAD), fill=TEXT, font=font)
    for n, t in enumerate(tiles):
        x0 = PAD + (n % cols) * cell_w
        y0 = PAD + top + (n // cols) * cell_h
        if t.image is None:
            draw.rectangle((x0, y0, x0 + tile - 1, y0 + tile - 1), fill=PLACEHOLDER)
            draw.text((x0 + 6, y0 + tile // 2 - 6), "unavailable", fill=MUTED, font=font)
        else:
            im = t.image.convert("RGB")
            im.thumbnail((tile, tile), Image.Resampling.BICUBIC)
            canvas.paste(im, (x0 + (tile - im.width) // 2, y0 + (tile - im.height) // 2))
        if t.accent:
            draw.rectangle((x0 - 3, y0 - 3, x0 + tile + 2, y0 + tile + 2), outline=ACCENT, width=3)
        for i, text in enumerate(t.caption):
            draw.text((x0, y0 + tile + 3 + i * line_h), _fit(draw, text, font, tile), fill=TEXT if i == 0 else MUTED,
                      font=font)
    return canvas


def _thumb_images(coll: Collection, ids: Sequence[int], size: int) -> dict[int, Image.Image]:
    out = {}
    cached = thumbnails.DEFAULT_SIZE if size <= thumbnails.DEFAULT_SIZE else size  # share the app's cache
    for image_id, data in thumbnails.thumbnails(coll, ids, size=cached).items():
        try:
            out[image_id] = Image.open(io.BytesIO(data)).convert("RGB")
        except Exception:  # noqa: BLE001 - a broken cache file is just an unavailable tile
            continue
    return out


def query_montage(coll: Collection, query: Path | str | bytes | Image.Image, hits: Sequence, cols: int = 5,
                  tile: int = 192, title: str | None = None) -> Image.Image:
    """The query image (outlined) followed by its results, captioned `#rank  score` and the file name.

    `hits` are `revsearch.search.Hit`s (anything with id, path and score).
    """
    if isinstance(query, Image.Image):
        q_img: Image.Image | None = query
        q_name = "query"
    else:
        loaded = images.load_image(query, target=tile)
        q_img = None if isinstance(loaded, images.Skip) else loaded
        q_name = "uploaded image" if isinstance(query, bytes) else Path(query).name
    thumbs = _thumb_images(coll, [h.id for h in hits], tile)
    tiles = [Tile(q_img, ["query", q_name], accent=True)]
    tiles += [Tile(thumbs.get(h.id), [f"#{rank}  {h.score:.3f}", Path(h.path).name]) for rank, h in
              enumerate(hits, 1)]
    return grid(tiles, cols=cols, tile=tile, title=title)


def cluster_montage(coll: Collection, cluster_id: int, n: int = 16, cols: int = 4, tile: int = 192,
                    outliers: int = 4) -> Image.Image:
    """A cluster's `n` representatives (closest to the centroid), then its `outliers` farthest members (outlined)."""
    from revsearch import clusters

    ms = clusters.members(coll, cluster_id)
    name = clusters.cluster(coll, cluster_id, n_representatives=0, n_outliers=0).name
    reps = ms[:n]
    far = list(reversed(ms[n:]))[:outliers]
    thumbs = _thumb_images(coll, [m.id for m in reps + far], tile)
    tiles = [Tile(thumbs.get(m.id), [f"{m.similarity:.3f}", Path(m.path).name]) for m in reps]
    tiles += [Tile(thumbs.get(m.id), [f"outlier {m.similarity:.3f}", Path(m.path).name], accent=True) for m in far]
    label = f"cluster {cluster_id}" + (f" “{name}”" if name else "")
    title = f"{label}: {len(ms)} images; {len(reps)} closest to the centre" + (
        f", {len(far)} farthest (outlined)" if far else "")
    return grid(tiles, cols=cols, tile=tile, title=title)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def save_png(img: Image.Image, path: Path | str) -> Path:
    """Write the montage as PNG atomically (a crash never leaves half a file at `path`)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise RevsearchError(f"{path} is a folder; give a file name ending in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".montage-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(png_bytes(img))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
