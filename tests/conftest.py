"""Shared fixtures: synthetic edge-case image files, generated on the fly (no binaries in git).

``edge_case_folder`` gives a folder with every decoding edge case revsearch must survive, plus the
expected outcome per file, for unit and integration tests alike.  ``samples`` exposes the builders
so tests can make one-off variants (bigger sizes, other colours).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

try:
    import pillow_heif

    pillow_heif.register_heif_opener()
    HAVE_HEIF = True
except ImportError:  # pragma: no cover
    HAVE_HEIF = False

HAVE_AVIF = "avif" in features.modules and bool(features.check("avif"))

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


class Samples:
    """Builders for image bytes; every one is deterministic and small unless asked otherwise."""

    @staticmethod
    def pattern(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
        """An RGB image whose content differs per ``seed`` (gradient + random blocks)."""
        w, h = size
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:h, 0:w]
        a = np.empty((h, w, 3), np.uint8)
        a[..., 0] = (x * 255 // max(w - 1, 1) + seed * 37) % 256
        a[..., 1] = (y * 255 // max(h - 1, 1) + seed * 91) % 256
        a[..., 2] = ((x + y) * 3 + seed * 53) % 256
        for _ in range(4):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            a[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(0, 256, 3, dtype=np.uint8)
        return Image.fromarray(a)

    @staticmethod
    def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format=fmt, **params)
        return buf.getvalue()

    @staticmethod
    def solid(color: tuple[int, ...], size: tuple[int, int] = (32, 32), mode: str = "RGB") -> Image.Image:
        return Image.new(mode, size, color)

    @classmethod
    def jpeg(cls, im: Image.Image | None = None, **params: object) -> bytes:
        return cls.encode(im if im is not None else cls.pattern(0), "JPEG", quality=90, **params)

    @classmethod
    def png(cls, im: Image.Image | None = None, **params: object) -> bytes:
        return cls.encode(im if im is not None else cls.pattern(0), "PNG", **params)

    @staticmethod
    def _chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    @classmethod
    def png_raw(cls, array: np.ndarray, color_type: int, bit_depth: int) -> bytes:
        """A hand-written PNG (Pillow cannot write 16-bit RGB): ``array`` is (h, w) or (h, w, channels)."""
        h, w = array.shape[:2]
        dtype = ">u2" if bit_depth == 16 else "u1"
        rows = np.ascontiguousarray(array.astype(dtype)).reshape(h, -1).view(np.uint8)
        raw = b"".join(b"\x00" + rows[i].tobytes() for i in range(h))
        ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + cls._chunk(b"IHDR", ihdr)
            + cls._chunk(b"IDAT", zlib.compress(raw))
            + cls._chunk(b"IEND", b"")
        )

    @classmethod
    def png_bomb(cls, width: int = 16000, height: int = 16000) -> bytes:
        """A tiny PNG whose IHDR claims ``width × height`` (valid CRC): a decompression-bomb header."""
        data = bytearray(cls.png(Image.new("RGB", (1, 1), RED)))
        assert data[12:16] == b"IHDR"
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
        return bytes(data)

    @classmethod
    def jpeg_bomb(cls, width: int = 16000, height: int = 16000) -> bytes:
        """A tiny JPEG whose SOF0 claims ``width × height``."""
        data = bytearray(cls.jpeg(Image.new("RGB", (8, 8), RED)))
        sof = data.find(b"\xff\xc0")
        assert sof > 0
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        return bytes(data)

    @staticmethod
    def truncated(data: bytes, keep: float = 0.5) -> bytes:
        return data[: int(len(data) * keep)]

    @classmethod
    def exif_rotated_jpeg(cls, orientation: int = 6) -> bytes:
        """40×20 stored image, red 10×10 block at the stored top-left, blue elsewhere."""
        im = Image.new("RGB", (40, 20), BLUE)
        im.paste(RED, (0, 0, 10, 10))
        exif = Image.Exif()
        exif[0x0112] = orientation
        return cls.jpeg(im, exif=exif.tobytes())

    @classmethod
    def half_transparent(cls, mode: str, opaque: tuple[int, ...]) -> Image.Image:
        """Left half fully transparent (hidden colour black), right half ``opaque``."""
        im = Image.new(mode, (32, 16), (0,) * len(mode))
        right = Image.new(mode, (16, 16), opaque)
        im.paste(right, (16, 0))
        return im

    @classmethod
    def palette_transparent_png(cls) -> bytes:
        """P image: index 0 (black) transparent on the left, index 1 blue on the right."""
        im = Image.new("P", (32, 16), 0)
        im.putpalette([0, 0, 0, 0, 0, 255] + [0] * (254 * 3))
        im.paste(1, (16, 0, 32, 16))
        return cls.png(im, transparency=0)

    @classmethod
    def animated(
        cls, fmt: str, colors: tuple[tuple[int, int, int], ...] = (RED, GREEN, BLUE), size: tuple[int, int] = (32, 32)
    ) -> bytes:
        frames = [Image.new("RGB", size, c) for c in colors]
        params: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
        if fmt == "WEBP":
            params["lossless"] = True
        return cls.encode(frames[0], fmt, **params)

    @classmethod
    def gray16(cls, lo: int = 1000, hi: int = 3000, size: tuple[int, int] = (64, 16)) -> Image.Image:
        """Horizontal 16-bit gradient lo→hi: too dark for ``>> 8``, too bright for clipping at 255."""
        w, h = size
        row = np.linspace(lo, hi, w).round().astype(np.uint16)
        return Image.fromarray(np.tile(row, (h, 1)))  # mode I;16

    @classmethod
    def rgb16_png(cls, size: tuple[int, int] = (48, 16)) -> bytes:
        w, h = size
        a = np.zeros((h, w, 3), np.uint16)
        a[..., 0] = np.linspace(0, 65535, w).round().astype(np.uint16)  # red ramp
        a[..., 2] = 40000
        return cls.png_raw(a, color_type=2, bit_depth=16)


def _edge_cases() -> list[tuple[str, bytes, str]]:
    """(relative path, content, expected 'ok' | 'skip'); good images all have distinct content."""
    s = Samples
    p = s.pattern
    # Solid-colour files (colour checks) differ in size so that no two decode to the same pixels.
    cases: list[tuple[str, bytes, str]] = [
        # --- decodable -----------------------------------------------------------------
        ("baseline.jpg", s.jpeg(p(1)), "ok"),
        ("progressive.jpg", s.jpeg(p(2), progressive=True), "ok"),
        ("grayscale.jpg", s.jpeg(p(3).convert("L")), "ok"),
        ("cmyk_red.jpg", s.jpeg(s.solid((0, 255, 255, 0), mode="CMYK")), "ok"),
        ("exif_rotated.jpg", s.exif_rotated_jpeg(6), "ok"),
        ("png_named.jpg", s.png(p(4)), "ok"),
        ("rgb.png", s.png(p(5)), "ok"),
        ("gray.png", s.png(p(6).convert("L")), "ok"),
        ("one_bit.png", s.png(p(7).convert("1")), "ok"),
        ("palette.png", s.png(p(8).convert("P", palette=Image.Palette.ADAPTIVE)), "ok"),
        ("palette_transparent.png", s.palette_transparent_png(), "ok"),
        ("rgba_transparent.png", s.png(s.half_transparent("RGBA", (0, 255, 0, 255))), "ok"),
        ("la_transparent.png", s.png(s.half_transparent("LA", (128, 255))), "ok"),
        ("gray16.png", s.png(s.gray16()), "ok"),
        ("rgb16.png", s.rgb16_png(), "ok"),
        ("animated.gif", s.animated("GIF", size=(36, 36)), "ok"),
        ("still.webp", s.encode(p(9), "WEBP", quality=90), "ok"),
        ("animated.webp", s.animated("WEBP", (GREEN, RED, BLUE)), "ok"),
        ("rgb.tiff", s.encode(p(10), "TIFF"), "ok"),
        ("cmyk_red.tiff", s.encode(s.solid((0, 255, 255, 0), (30, 30), "CMYK"), "TIFF"), "ok"),
        ("gray16.tiff", s.encode(s.gray16(2000, 5000), "TIFF"), "ok"),
        ("float.tiff", s.encode(Image.fromarray(np.tile(np.linspace(-1, 3, 40, dtype=np.float32), (8, 1))), "TIFF"), "ok"),
        ("lab_red.tiff", s.encode(_lab_red(), "TIFF"), "ok"),
        ("rgb.bmp", s.encode(p(11), "BMP"), "ok"),
        ("sub/nested.png", s.png(p(12)), "ok"),
        # --- must be skipped ---------------------------------------------------------------
        ("empty.jpg", b"", "skip"),
        ("text_named.jpg", b"This is not an image, just some text.\n" * 20, "skip"),
        ("notes.txt", b"hello\n", "skip"),
        ("truncated.jpg", s.truncated(s.jpeg(p(13, (256, 256)))), "skip"),
        ("truncated.png", s.truncated(s.png(p(14, (256, 256)))), "skip"),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "skip"),
        ("bomb.png", s.png_bomb(), "skip"),
        ("bomb.jpg", s.jpeg_bomb(), "skip"),
    ]
    if HAVE_HEIF:
        cases.append(("photo.heic", s.encode(p(15), "HEIF", quality=90), "ok"))
    if HAVE_AVIF:
        cases.append(("photo.avif", s.encode(p(16), "AVIF", quality=90), "ok"))
    return cases


def _lab_red() -> Image.Image:
    """Solid sRGB red converted to CIELAB by LittleCMS (how Pillow stores LAB: a/b offset by 128)."""
    from PIL import ImageCms

    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    return ImageCms.applyTransform(Image.new("RGB", (28, 28), RED), to_lab)


@pytest.fixture(scope="session")
def samples() -> type[Samples]:
    """The image builders (static methods), for one-off test files."""
    return Samples


@pytest.fixture(scope="session")
def edge_case_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder with every decoding edge case, and ``{relative posix path: "ok" | "skip"}``.

    Session-scoped (built once, ~0.2 s): treat it as read-only; copy it if a test must modify it.
    It has no hidden files, so every file ``walk_files`` returns is a key of the mapping.
    HEIC/AVIF entries are present only when this environment can encode them.
    """
    folder = tmp_path_factory.mktemp("edge_cases")
    expected: dict[str, str] = {}
    for rel, data, outcome in _edge_cases():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[rel] = outcome
    return folder, expected


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 256 KiB tmpfs mounted in tmp_path, to fill a disk for real (needs root and mount; skipped otherwise)."""
    import os
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("filling a real disk needs a tmpfs mount, which needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
