"""revsearch.images: every edge case decodes to RGB or becomes a Skip with a reason, quickly."""

from __future__ import annotations

import io
import os
import shutil
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from revsearch import images
from revsearch.images import MAX_PIXELS, Skip, load_image, probe, thumbnail_bytes

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def close(px: tuple[int, ...], want: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(px, want, strict=True))


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4000×3000 (12 MP) JPEG, red 1000×1000 block top-left on blue, EXIF orientation 6."""
    im = Image.new("RGB", (4000, 3000), BLUE)
    im.paste(RED, (0, 0, 1000, 1000))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    im.save(path, quality=90, exif=exif.tobytes())
    return path


# --------------------------------------------------------------------------------------------
# the shared edge-case folder


def test_edge_case_folder_outcomes(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, expected = edge_case_folder
    got: dict[str, str] = {}
    pixels: dict[bytes, str] = {}
    for rel, outcome in expected.items():
        result = load_image(folder / rel)
        got[rel] = "skip" if isinstance(result, Skip) else "ok"
        if isinstance(result, Skip):
            assert result.reason, rel
            continue
        assert result.mode == "RGB", rel
        assert result.size[0] > 0 and result.size[1] > 0
        data = result.tobytes()
        assert data not in pixels, f"{rel} has the same pixels as {pixels.get(data)}"
        pixels[data] = rel
    assert got == expected


def test_edge_case_folder_bytes_and_str_same_as_path(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, expected = edge_case_folder
    for rel in expected:
        path = folder / rel
        a, b, c = load_image(path), load_image(str(path)), load_image(path.read_bytes())
        if isinstance(a, Skip):
            assert a == b == c, rel
        else:
            assert isinstance(b, Image.Image) and isinstance(c, Image.Image)
            assert a.tobytes() == b.tobytes() == c.tobytes(), rel


def test_fixture_has_the_promised_cases(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    _, expected = edge_case_folder
    for name in ("truncated.jpg", "truncated.png", "empty.jpg", "text_named.jpg", "bomb.png", "bomb.jpg"):
        assert expected[name] == "skip"
    for name in ("png_named.jpg", "cmyk_red.jpg", "gray16.png", "animated.gif", "sub/nested.png"):
        assert expected[name] == "ok"


# --------------------------------------------------------------------------------------------
# skips and their reasons


@pytest.mark.parametrize(
    ("name", "reason_start"),
    [
        ("empty.jpg", "empty file (0 bytes)"),
        ("text_named.jpg", "not an image (unrecognised content)"),
        ("truncated.jpg", "truncated or corrupt image"),
        ("truncated.png", "truncated or corrupt image"),
        ("bomb.png", "too large: 16000×16000 = 256.0 MP exceeds the 100 MP limit"),
        ("bomb.jpg", "too large: 16000×16000 = 256.0 MP exceeds the 100 MP limit"),
    ],
)
def test_skip_reasons(edge_case_folder: tuple[Path, dict[str, str]], name: str, reason_start: str) -> None:
    folder, _ = edge_case_folder
    result = load_image(folder / name)
    assert isinstance(result, Skip)
    assert result.reason.startswith(reason_start), result.reason


def test_empty_bytes() -> None:
    assert load_image(b"") == Skip("empty file (0 bytes)")


def test_truncated_does_not_enable_global_truncated_loading(samples) -> None:
    load_image(samples.truncated(samples.jpeg()))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("kind", ["png_bomb", "jpeg_bomb"])
def test_bomb_refused_without_warning(samples, kind: str) -> None:
    """How fast the refusal is: benchmarks/bench.py's profile (guards table), not a test."""
    data = getattr(samples, kind)(16000, 16000)
    assert len(data) < 2000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail the test
        result = load_image(data)
    assert isinstance(result, Skip) and result.reason.startswith("too large"), result


def test_between_pillow_limits_no_warning(samples) -> None:
    """13000² = 169 MP is where Pillow would only *warn*; we refuse, silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = load_image(samples.png_bomb(13000, 13000))
    assert isinstance(result, Skip) and "169.0 MP" in result.reason


def test_max_pixels_configurable(samples) -> None:
    data = samples.png(samples.pattern(1, (100, 50)))
    skip = load_image(data, max_pixels=4999)
    assert isinstance(skip, Skip) and skip.reason == "too large: 100×50 = 0.0 MP exceeds the 0.004999 MP limit"
    assert isinstance(load_image(data, max_pixels=5000), Image.Image)
    assert MAX_PIXELS == 100_000_000


def test_directory_missing_fifo(tmp_path: Path) -> None:
    d = load_image(tmp_path)
    assert isinstance(d, Skip) and "directory" in d.reason
    m = load_image(tmp_path / "nope.jpg")
    assert isinstance(m, Skip) and "not found" in m.reason
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    f = load_image(fifo)  # must not block
    assert isinstance(f, Skip) and "not a regular file" in f.reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable(tmp_path: Path, samples) -> None:
    path = tmp_path / "secret.jpg"
    path.write_bytes(samples.jpeg())
    path.chmod(0)
    try:
        result = load_image(path)
        assert isinstance(result, Skip) and "permission denied" in result.reason
    finally:
        path.chmod(0o644)


def test_unsupported_but_valid_format_is_not_an_image(samples) -> None:
    """ICO decodes eagerly on open (and EPS shells out to Ghostscript): not accepted."""
    result = load_image(samples.encode(samples.pattern(1, (32, 32)), "ICO"))
    assert result == Skip("not an image (unrecognised content)")


# --------------------------------------------------------------------------------------------
# content sniffing, modes and colours


def test_png_named_jpg(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, _ = edge_case_folder
    assert isinstance(load_image(folder / "png_named.jpg"), Image.Image)


@pytest.mark.parametrize("name", ["cmyk_red.jpg", "cmyk_red.tiff", "lab_red.tiff", "animated.gif"])
def test_red_stays_red(edge_case_folder: tuple[Path, dict[str, str]], name: str) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / name)
    assert isinstance(im, Image.Image)
    assert close(im.getpixel((im.width // 2, im.height // 2)), RED), im.getpixel((0, 0))


def test_cmyk_jpeg_is_adobe_inverted(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    """Pillow writes CMYK JPEGs with an Adobe APP14 marker (inverted CMYK): the red check covers it."""
    folder, _ = edge_case_folder
    data = (folder / "cmyk_red.jpg").read_bytes()
    assert b"Adobe" in data
    assert Image.open(folder / "cmyk_red.jpg").mode == "CMYK"


def test_animated_webp_first_frame(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / "animated.webp")
    assert isinstance(im, Image.Image) and close(im.getpixel((16, 16)), GREEN)


@pytest.mark.parametrize(
    ("name", "right"),
    [
        ("palette_transparent.png", BLUE),
        ("rgba_transparent.png", GREEN),
        ("la_transparent.png", (128, 128, 128)),
    ],
)
def test_transparency_over_white(edge_case_folder: tuple[Path, dict[str, str]], name: str, right: tuple[int, int, int]) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / name)
    assert isinstance(im, Image.Image) and im.mode == "RGB"
    assert im.getpixel((4, 8)) == WHITE  # transparent black -> white, not black
    assert im.getpixel((28, 8)) == right


@pytest.mark.parametrize("name", ["gray16.png", "gray16.tiff", "float.tiff"])
def test_wide_grayscale_keeps_contrast(edge_case_folder: tuple[Path, dict[str, str]], name: str) -> None:
    folder, _ = edge_case_folder
    assert Image.open(folder / name).mode in {"I;16", "I;16B", "I", "F"}
    im = load_image(folder / name)
    assert isinstance(im, Image.Image) and im.mode == "RGB"
    row = [im.getpixel((x, im.height // 2))[0] for x in range(im.width)]
    assert row[0] <= 5 and row[-1] >= 250, row
    assert row == sorted(row) and len(set(row)) > im.width // 2  # smooth ramp, not clipped or crushed


def test_rgb16_png(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / "rgb16.png")
    assert isinstance(im, Image.Image) and im.mode == "RGB"
    assert close(im.getpixel((0, 0)), (0, 0, 156), 2)
    assert close(im.getpixel((im.width - 1, 0)), (255, 0, 156), 2)


def test_grayscale_jpeg_becomes_rgb(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / "grayscale.jpg")
    assert isinstance(im, Image.Image) and im.mode == "RGB"
    r, g, b = im.getpixel((10, 10))
    assert r == g == b


@pytest.mark.parametrize("name", ["still.webp", "rgb.tiff", "rgb.bmp", "progressive.jpg", "one_bit.png", "palette.png"])
def test_formats_decode(edge_case_folder: tuple[Path, dict[str, str]], name: str) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / name)
    assert isinstance(im, Image.Image) and im.mode == "RGB" and im.size == (64, 48)


@pytest.mark.skipif(not images.HEIF_SUPPORTED, reason="pillow_heif is not installed")
def test_heic(samples) -> None:
    im = Image.new("RGB", (64, 48), BLUE)
    im.paste(RED, (0, 0, 32, 48))
    out = load_image(samples.encode(im, "HEIF", quality=95))
    assert isinstance(out, Image.Image) and out.size == (64, 48)
    assert close(out.getpixel((8, 24)), RED, 20) and close(out.getpixel((56, 24)), BLUE, 20)


@pytest.mark.skipif(not images.AVIF_SUPPORTED, reason="this Pillow build has no AVIF support (libavif)")
def test_avif(samples) -> None:
    im = Image.new("RGB", (64, 48), BLUE)
    im.paste(RED, (0, 0, 32, 48))
    out = load_image(samples.encode(im, "AVIF", quality=95))
    assert isinstance(out, Image.Image) and out.size == (64, 48)
    assert close(out.getpixel((8, 24)), RED, 20) and close(out.getpixel((56, 24)), BLUE, 20)


# --------------------------------------------------------------------------------------------
# EXIF orientation and JPEG draft


def test_exif_orientation_6(edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    folder, _ = edge_case_folder
    im = load_image(folder / "exif_rotated.jpg")
    assert isinstance(im, Image.Image) and im.size == (20, 40)
    assert close(im.getpixel((15, 4)), RED)  # stored top-left is displayed top-right
    assert close(im.getpixel((4, 4)), BLUE)
    assert close(im.getpixel((15, 35)), BLUE)
    assert probe(folder / "exif_rotated.jpg") == (20, 40)


def test_draft_keeps_short_side_and_rotation(big_jpeg: Path) -> None:
    im = load_image(big_jpeg, target=224)
    assert isinstance(im, Image.Image)
    assert im.size == (375, 500)  # 4000×3000 / 8, rotated to portrait
    assert min(im.size) >= 224
    assert close(im.getpixel((im.width - 20, 20)), RED) and close(im.getpixel((20, 20)), BLUE)
    for target in (300, 400, 1000, 2000):
        scaled = load_image(big_jpeg, target=target)
        assert isinstance(scaled, Image.Image) and min(scaled.size) >= target
    full = load_image(big_jpeg, target=None)
    assert isinstance(full, Image.Image) and full.size == (3000, 4000)


def test_target_larger_than_image(samples) -> None:
    im = load_image(samples.jpeg(samples.pattern(3, (100, 80))), target=224)
    assert isinstance(im, Image.Image) and im.size == (100, 80)


def test_result_is_fully_loaded(tmp_path: Path, edge_case_folder: tuple[Path, dict[str, str]]) -> None:
    """Pixels stay usable after the source file is gone (no lazy decode, no open handle needed)."""
    folder, expected = edge_case_folder
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    loaded = {rel: load_image(copy / rel) for rel, want in expected.items() if want == "ok"}
    shutil.rmtree(copy)
    for rel, im in loaded.items():
        assert isinstance(im, Image.Image), rel
        im.tobytes()
        im.resize((8, 8))


# --------------------------------------------------------------------------------------------
# probe and thumbnails


def test_probe(edge_case_folder: tuple[Path, dict[str, str]], big_jpeg: Path) -> None:
    folder, _ = edge_case_folder
    assert probe(folder / "rgb.png") == (64, 48)
    assert probe(big_jpeg) == (3000, 4000)
    assert probe(folder / "bomb.png") == (16000, 16000)  # probe reports, load_image refuses
    for name in ("empty.jpg", "text_named.jpg"):
        assert isinstance(probe(folder / name), Skip)
    assert isinstance(probe(folder), Skip)


def test_thumbnail_bytes(big_jpeg: Path) -> None:
    data = thumbnail_bytes(big_jpeg, size=256)
    assert isinstance(data, bytes) and data[:2] == b"\xff\xd8"
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG" and thumb.size == (192, 256)  # portrait after EXIF rotation
    assert isinstance(thumbnail_bytes(b"not an image"), Skip)
