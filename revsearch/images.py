"""Safe, fast image decoding: any user file in, an RGB ``PIL.Image`` or a ``Skip(reason)`` out.

Why a module of its own: photo folders contain everything — HEIC from phones, CMYK JPEGs from print
shops, 16-bit PNG scans, truncated downloads, text files named ``.jpg``, and the occasional
decompression bomb.  Every decode in revsearch goes through :func:`load_image` / :func:`probe` so
that (a) a bad file becomes a catalog entry with a human-readable reason instead of a crash,
(b) the pixel cap is checked from the header before any pixel memory is allocated, and (c) JPEGs are
decoded DCT-scaled to just above the model's input size, which is several times faster than a full
decode of a 12 MP photo.

Format support: JPEG (incl. MPO), PNG, GIF, WebP, TIFF, BMP, PPM, JPEG 2000, AVIF (when this Pillow
build has libavif: ``AVIF_SUPPORTED``) and HEIC/HEIF (when ``pillow_heif`` is installed:
``HEIF_SUPPORTED``).  Formats that Pillow decodes through external programs (EPS → Ghostscript) or
that decode eagerly on open (ICO) are deliberately not accepted.
"""

from __future__ import annotations

import functools
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import (
    BmpImagePlugin,  # noqa: F401  (imported to register the format)
    GifImagePlugin,  # noqa: F401
    Image,
    ImageOps,
    JpegImagePlugin,  # noqa: F401
    MpoImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    PpmImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    features,
)

__all__ = [
    "Skip",
    "MAX_PIXELS",
    "AVIF_SUPPORTED",
    "HEIF_SUPPORTED",
    "SUPPORTED_FORMATS",
    "load_image",
    "probe",
    "thumbnail_bytes",
]

try:
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - optional dependency
    HEIF_SUPPORTED = False

try:
    from PIL import WebPImagePlugin  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from PIL import Jpeg2KImagePlugin  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from PIL import AvifImagePlugin  # noqa: F401
except ImportError:  # pragma: no cover - Pillow < 11.2
    pass

#: Pillow 11.2+ reads AVIF natively when built with libavif (the PyPI wheels are).
AVIF_SUPPORTED: bool = bool(features.check("avif")) if "avif" in features.modules else False

#: Default cap on width × height, checked from the header before decoding.
MAX_PIXELS = 100_000_000

# Pillow's own bomb check is process-global and only *warns* between 1× and 2× its limit, then
# decodes anyway.  We check per call, from the header, against a configurable cap (and never just
# warn), so Pillow's check is switched off.  Consequence: decode user files only through this module.
Image.MAX_IMAGE_PIXELS = None

_WANTED_FORMATS = (
    "JPEG", "MPO", "PNG", "GIF", "WEBP", "TIFF", "BMP", "DIB", "PPM", "JPEG2000", "AVIF", "HEIF",
)
#: Pillow format names accepted by :func:`load_image` (content-sniffed, extensions are ignored).
SUPPORTED_FORMATS: tuple[str, ...] = tuple(f for f in _WANTED_FORMATS if f in Image.OPEN)

_DRAFT_FORMATS = {"JPEG", "MPO", "HEIF"}  # JPEG: DCT scaling; HEIF: embedded thumbnail if big enough
_WIDE_GRAY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255)

Source = Path | str | bytes


@dataclass(frozen=True)
class Skip:
    """Why a file was not decoded; ``reason`` is meant for people (catalog, UI, CLI)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


# --------------------------------------------------------------------------------------------
# opening


def _open_source(src: Source | bytearray | memoryview) -> BinaryIO | Skip:
    """A readable binary stream for ``src``, or a Skip for empty/missing/unreadable/non-files."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            return Skip("empty file (0 bytes)")
        return io.BytesIO(src)
    path = Path(src)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Skip("file not found")
    except PermissionError:
        return Skip("unreadable: permission denied")
    except OSError as exc:
        return Skip(f"unreadable: {exc.strerror or exc}")
    if stat.S_ISDIR(st.st_mode):
        return Skip("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):  # FIFOs would block, devices are never photos
        return Skip("not a regular file")
    if st.st_size == 0:
        return Skip("empty file (0 bytes)")
    try:
        return open(path, "rb")
    except PermissionError:
        return Skip("unreadable: permission denied")
    except OSError as exc:
        return Skip(f"unreadable: {exc.strerror or exc}")


def _open_image(fp: BinaryIO) -> Image.Image | Skip:
    """Identify by content and read the header only (no pixels yet)."""
    try:
        return Image.open(fp, formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError:
        return Skip("not an image (unrecognised content)")
    except Exception as exc:  # noqa: BLE001 - any decoder error on bad input becomes a Skip
        return _error_skip(exc)


def _error_skip(exc: BaseException) -> Skip:
    if isinstance(exc, MemoryError):
        return Skip("out of memory while decoding")
    if isinstance(exc, Image.DecompressionBombError):
        return Skip(f"too large: {exc}")
    msg = str(exc).strip() or type(exc).__name__
    return Skip(f"truncated or corrupt image: {msg}")


def _too_large(size: tuple[int, int], max_pixels: int) -> Skip | None:
    w, h = size
    if w <= 0 or h <= 0:
        return Skip(f"truncated or corrupt image: invalid size {w}×{h}")
    if w * h > max_pixels:
        return Skip(
            f"too large: {w}×{h} = {w * h / 1e6:.1f} MP exceeds the {max_pixels / 1e6:g} MP limit"
        )
    return None


def _orientation(im: Image.Image) -> int:
    """EXIF orientation from the header; never triggers a pixel decode, never raises."""
    try:
        if im.format == "PNG" and "exif" not in im.info:
            return 1  # PngImageFile.getexif() would decode the whole image to find a late eXIf
        value = im.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - broken EXIF must not cost us the photo
        return 1


# --------------------------------------------------------------------------------------------
# mode conversion


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB the way a person would expect to see it."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode in _WIDE_GRAY_MODES:
        return _wide_gray_to_rgb(im)
    if mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im if mode == "RGBA" else im.convert("RGBA")
        out = Image.new("RGB", im.size, _WHITE)
        out.paste(rgba, (0, 0), rgba)  # composite over white: transparent areas are not black
        return out
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode == "LAB":
        return _lab_to_rgb(im)
    return im.convert("RGB")  # L, 1, P, YCbCr, HSV, ...


def _wide_gray_to_rgb(im: Image.Image) -> Image.Image:
    """16/32-bit or float grayscale → 8-bit by the image's actual value range.

    Why: ``convert("L")`` clips to 0..255, turning a 16-bit scan white, and ``>> 8`` turns a
    12-bit-in-16 medical/scientific image almost black; stretching min..max keeps the contrast.
    """
    a = np.asarray(im).astype(np.float32)  # one copy; native-endian whatever the source
    if im.mode == "F":
        np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    if hi > lo:
        a -= lo
        a *= 255.0 / (hi - lo)
    else:  # flat image: keep its brightness relative to the nominal range
        if im.mode.startswith("I;16"):
            nominal = 65535.0
        elif im.mode == "F" and 0.0 <= lo <= 1.0:
            nominal = 1.0
        else:
            nominal = 255.0
        a.fill(min(max(lo / nominal * 255.0, 0.0), 255.0))
    gray = Image.fromarray(np.rint(a).astype(np.uint8))
    return gray.convert("RGB")


@functools.cache
def _srgb_profile():  # type: ignore[no-untyped-def]
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK → RGB, through the embedded ICC profile when there is one (print files usually have)."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(
                im, src, _srgb_profile(), outputMode="RGB",
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
            )
        except Exception:  # noqa: BLE001 - bad/mismatched profile: fall back to the naive formula
            pass
    return im.convert("RGB")


@functools.cache
def _lab_transform():  # type: ignore[no-untyped-def]
    from PIL import ImageCms

    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), _srgb_profile(), "LAB", "RGB")


def _lab_to_rgb(im: Image.Image) -> Image.Image:
    """CIELAB → sRGB via LittleCMS (Pillow's ``convert`` has no LAB→RGB path)."""
    from PIL import ImageCms

    return ImageCms.applyTransform(im, _lab_transform())


# --------------------------------------------------------------------------------------------
# public API


def load_image(
    src: Path | str | bytes,
    target: int | None = 224,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image | Skip:
    """Decode ``src`` to a fully loaded RGB image, or return ``Skip(reason)``; never raises on bad input.

    - Content-sniffed (extensions are ignored); only :data:`SUPPORTED_FORMATS` are accepted.
    - ``width × height`` is checked against ``max_pixels`` from the header, before any decode.
    - With ``target``, JPEGs are decoded DCT-scaled (1/2, 1/4, 1/8) to the smallest size whose
      short side is still ``>= target`` (HEIC may use an embedded thumbnail under the same rule);
      other formats come back at full size.  ``target=None`` decodes at full size.
    - EXIF orientation is applied; transparency is composited over white; CMYK, LAB, 16-bit and
      float grayscale, palette, 1-bit etc. become sensible RGB.  Animations: the first frame.
    """
    fp = _open_source(src)
    if isinstance(fp, Skip):
        return fp
    try:
        with fp:
            im = _open_image(fp)
            if isinstance(im, Skip):
                return im
            if (skip := _too_large(im.size, max_pixels)) is not None:
                return skip
            if target and im.format in _DRAFT_FORMATS:
                im.draft("RGB", (target, target))
            im.load()
            if _orientation(im) != 1:
                try:
                    ImageOps.exif_transpose(im, in_place=True)
                except Exception:  # noqa: BLE001 - keep the unrotated photo rather than lose it
                    pass
            return _to_rgb(im)
    except Exception as exc:  # noqa: BLE001 - OSError, SyntaxError, struct.error, EOFError, ...
        return _error_skip(exc)


def probe(src: Path | str | bytes) -> tuple[int, int] | Skip:
    """``(width, height)`` as displayed (after EXIF rotation), reading only the header.

    Why: cheap enough to run over a whole folder to report sizes or pre-filter huge files; it does
    not apply a pixel cap (nothing is decoded) — :func:`load_image` does.
    """
    fp = _open_source(src)
    if isinstance(fp, Skip):
        return fp
    try:
        with fp:
            im = _open_image(fp)
            if isinstance(im, Skip):
                return im
            w, h = im.size
            if _orientation(im) in (5, 6, 7, 8):
                w, h = h, w
            return w, h
    except Exception as exc:  # noqa: BLE001
        return _error_skip(exc)


def thumbnail_bytes(
    src: Path | str | bytes,
    size: int = 256,
    max_pixels: int = MAX_PIXELS,
) -> bytes | Skip:
    """A JPEG (quality 85) that fits in ``size × size`` with the aspect ratio kept, or a Skip.

    Why JPEG bytes: thumbnails are cached on disk and sent to the browser; JPEG is small and every
    browser shows it.  Decoding uses the same JPEG draft shortcut as :func:`load_image`.
    """
    im = load_image(src, target=size, max_pixels=max_pixels)
    if isinstance(im, Skip):
        return im
    try:
        im.thumbnail((size, size), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        return buf.getvalue()
    except Exception as exc:  # noqa: BLE001
        return _error_skip(exc)
