"""Region queries: parsing `x,y,w,h`, checking the box against the image, cutting it out at full resolution."""

from __future__ import annotations

import pytest
from PIL import Image

from revsearch import images
from revsearch.errors import RevsearchError
from revsearch.regions import check_box, crop, parse_box, query_image


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


def test_a_region_is_cut_from_the_full_size_decode(samples):
    """A big JPEG would be DCT-scaled by the fast path; the box refers to the original pixels, so it must not be."""
    data = samples.jpeg(samples.pattern(4, (1600, 1200)))
    region = query_image(data, (1000, 800, 600, 400), size=224)
    assert region.size == (600, 400)
    whole = query_image(data, size=224)
    assert isinstance(whole, Image.Image) and whole.size[0] < 1600  # no box: decoded for the model's input size
    assert isinstance(query_image(b"no image here", (0, 0, 1, 1)), images.Skip)


def test_exif_rotation_is_applied_before_cropping(samples):
    """The stored 40×20 image is shown 20×40 (orientation 6): boxes are in the displayed frame."""
    region = query_image(samples.exif_rotated_jpeg(6), (0, 0, 20, 40))
    assert region.size == (20, 40)
    with pytest.raises(RevsearchError, match="outside the 20×40 image"):
        query_image(samples.exif_rotated_jpeg(6), (0, 0, 40, 20))
