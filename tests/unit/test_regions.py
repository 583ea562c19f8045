"""Region queries: parsing `x,y,w,h`, checking the box against the image, cutting it out at full resolution."""

from __future__ import annotations

import pytest
from PIL import Image

from revsearch.errors import RevsearchError
from revsearch.regions import check_box, crop, load_region, parse_box


def test_parse_box():
    assert parse_box(" 1, 2,30,40") == (1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,4,5", ""):
        with pytest.raises(RevsearchError, match="x,y,w,h"):
            parse_box(bad)


@pytest.mark.parametrize("box, message", [((0, 0, 0, 5), "is empty"), ((0, 0, 5, -1), "is empty"),
                                          ((-1, 0, 5, 5), "outside the 64×48 image"),
                                          ((60, 0, 5, 5), "outside the 64×48 image"),
                                          ((0, 40, 5, 9), "y \\+ h ≤ 48")])
def test_boxes_outside_or_empty_are_errors(box, message):
    with pytest.raises(RevsearchError, match=message):
        check_box(box, (64, 48))


def test_crop_cuts_the_exact_pixels(samples):
    im = samples.pattern(3, (64, 48))
    region = crop(im, (10, 5, 20, 30))
    assert region.size == (20, 30)
    assert list(region.getdata()) == list(im.crop((10, 5, 30, 35)).getdata())


def test_load_region_decodes_at_full_size(samples):
    """A big JPEG would be DCT-scaled by the fast path; the box refers to the original pixels, so it must not be."""
    data = samples.jpeg(samples.pattern(4, (1600, 1200)))
    region = load_region(data, (1000, 800, 600, 400))
    assert region.size == (600, 400)
    with pytest.raises(RevsearchError, match="cannot use the uploaded image as a query: not an image"):
        load_region(b"no image here", (0, 0, 1, 1))


def test_exif_rotation_is_applied_before_cropping(samples):
    """The stored 40×20 image is shown 20×40 (orientation 6): boxes are in the displayed frame."""
    region = load_region(samples.exif_rotated_jpeg(6), (0, 0, 20, 40))
    assert region.size == (20, 40)
    with pytest.raises(RevsearchError, match="outside the 20×40 image"):
        load_region(samples.exif_rotated_jpeg(6), (0, 0, 40, 20))
