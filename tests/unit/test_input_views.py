"""Input handling without a model: the shapes of the native view, when it is skipped, and how two views combine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from revsearch.embed.models import LITE0
from revsearch.embed.views import Prepared, embed_prepared, letterbox, native, native_size, prepare
from revsearch.errors import RevsearchError
from revsearch.input_modes import LETTERBOX, TWO_VIEWS, check_input


@pytest.mark.parametrize("size, expected", [
    ((640, 480), (288, 224)),  # 4:3 landscape
    ((480, 640), (224, 288)),  # 4:3 portrait
    ((600, 400), (320, 224)),  # 3:2 → 336 rounds to a multiple of 32
    ((1000, 500), (448, 224)),  # 2:1, the cap
    ((3000, 500), (448, 224)),  # 6:1 stays 2:1
    ((500, 500), (224, 224)),
    ((520, 500), (224, 224)),  # near-square: the square input itself
])
def test_native_size(size, expected):
    assert native_size(*size, 224) == expected
    assert all(side % 32 == 0 for side in expected)


def test_square_and_near_square_images_have_no_native_view():
    for size in ((300, 300), (310, 300), (300, 312)):
        prepared = prepare(Image.new("RGB", size, (10, 200, 30)), LITE0, TWO_VIEWS)
        assert prepared.native is None and prepared.square.shape == (224, 224, 3)


def test_letterbox_mode_never_has_a_native_view():
    prepared = prepare(Image.new("RGB", (640, 320), (10, 200, 30)), LITE0, LETTERBOX)
    assert prepared.native is None


def test_native_view_keeps_the_whole_picture():
    img = Image.new("RGB", (600, 400), (200, 0, 0))
    view = native(img, LITE0)
    assert view.shape == (224, 320, 3) and (view == (200, 0, 0)).all()  # stretched to the grid, no border
    panorama = native(Image.new("RGB", (1200, 200), (200, 0, 0)), LITE0)
    assert panorama.shape == (224, 448, 3)
    red = (panorama == (200, 0, 0)).all(axis=2)
    assert red[112].all() and not red[0].any()  # fitted inside 2:1 on white: nothing cut, bands above and below
    assert (panorama[0] == 255).all()
    assert letterbox(img.convert("L"), LITE0).shape == (224, 224, 3)


def test_two_views_sum_and_renormalise_by_shape_groups():
    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    items = [Prepared(square), Prepared(square, np.zeros((224, 288, 3), np.uint8)),
             Prepared(square, np.zeros((288, 224, 3), np.uint8)), Prepared(square, np.zeros((224, 288, 3), np.uint8))]
    calls: list[tuple[int, ...]] = []
    unit = {224 * 224: np.array([1.0, 0.0]), 224 * 288: np.array([0.0, 1.0])}

    def run(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape)
        key = 224 * 224 if batch.shape[1:3] == (224, 224) else 224 * 288
        return np.tile(unit[key], (len(batch), 1)).astype(np.float32)

    out = embed_prepared(run, items, dim=2, batch_size=2)
    assert sorted(calls) == sorted([(2, 224, 224, 3), (2, 224, 224, 3), (2, 224, 288, 3), (1, 288, 224, 3)])
    np.testing.assert_allclose(out[0], [1, 0])
    np.testing.assert_allclose(out[1:], np.tile([2 ** -0.5, 2 ** -0.5], (3, 1)), rtol=1e-6)


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(RevsearchError, match="letterbox, letterbox\\+native"):
        check_input("squash")
