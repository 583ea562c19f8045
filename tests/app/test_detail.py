"""The detail view (dialog) of an image, the "in your collection" badge, and region search from it and the query."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from revsearch import labels
from revsearch.collection import Collection
from tests.app.conftest import errors, problems, texts
from ui.queries import Query


def demo_file(data_dir: Path, cls: str = "shoes") -> Path:
    return sorted((data_dir / "collections" / "demo" / "files" / cls).glob("*.jpg"))[0]


def exact_search(app, data_dir: Path):
    """Search with the very file of one demo photo: it is found with the badge."""
    target = demo_file(data_dir)
    app.session_state["query"] = Query("upload", "same.jpg", data=target.read_bytes())
    return app.run(), target


def open_details(at, nth: int = 0):
    [b for b in at.button if b.label == "Details"][nth].click()
    return at.run()


def test_exact_match_carries_the_badge_and_details_show_everything(app, data_dir):
    at, target = exact_search(app, data_dir)
    assert not problems(at) and not errors(at)
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]
    assert texts(at).count("In your collection") == 1  # the badge on the first card only
    at = open_details(at)
    assert not problems(at) and not errors(at)
    text = texts(at)
    assert texts(at).count("In your collection") == 2  # card + dialog
    assert [c.value for c in at.code] == [str(target)]
    with Image.open(target) as im:
        assert f"**Dimensions** {im.width} × {im.height} px" in text
    assert f"**File size** {target.stat().st_size / 1024:.1f} KB" in text
    assert "**Label** none" in text and "**Cluster** cluster " in text and "Similarity **1.000**" in text
    assert "**Folder** " in text and "shoes" in text
    assert [b.label for b in at.get("download_button")] == ["Download results (CSV)", "Download the original"]


def test_label_it_from_the_details(app, data_dir):
    at, target = exact_search(app, data_dir)
    at = open_details(at)
    at.text_input(key="detail_label_name").input("sneaker")
    next(b for b in at.button if b.label == "Label it").click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert labels.labels(coll) == {coll.by_path(target).id: "sneaker"}


def test_more_like_this_from_the_details_replaces_the_query(app, data_dir):
    at, target = exact_search(app, data_dir)
    at = open_details(at, 1)
    next(b for b in at.button if b.key == "detail_more").click().run()
    assert not problems(at) and not errors(at)
    assert "(from this collection)" in texts(at)
    assert at.session_state["query"].kind == "image"
    assert at.session_state["query_upload_round"] == 1  # the earlier upload left the uploader


def test_region_from_the_details_finds_its_image(app, data_dir):
    at, target = exact_search(app, data_dir)
    at = open_details(at)
    with Image.open(target) as im:
        w, h = im.size
    box = (w // 4, h // 5, w // 2, h // 2)
    [x, y] = [s for s in at.slider if s.key and s.key.startswith("detail_crop_")]
    x.set_value((box[0], box[0] + box[2]))
    y.set_value((box[1], box[1] + box[3]))
    at.run()
    assert f"--crop {box[0]},{box[1]},{box[2]},{box[3]}" in texts(at)
    next(b for b in at.button if b.key == "detail_region_search").click().run()
    assert not problems(at) and not errors(at)
    query = at.session_state["query"]
    assert query.crop == box and query.name == f"region of {target.name}"
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]  # the region's own image first
    assert "In your collection" not in texts(at)  # a region is not the same picture


def test_crop_an_uploaded_query(app, data_dir):
    at, target = exact_search(app, data_dir)
    with Image.open(target) as im:
        w, h = im.size
    [x, y] = [s for s in at.slider if s.key and s.key.startswith("crop_")]
    x.set_value((w // 3, w - w // 4))
    y.set_value((h // 4, h - h // 3))
    at.run()
    assert not problems(at) and not errors(at)
    assert at.session_state["query"].crop == (w // 3, h // 4, w - w // 4 - w // 3, h - h // 3 - h // 4)
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]
    at.slider(key=x.key).set_value((5, 5)).run()  # an empty region: a hint, and the whole image is searched again
    assert not problems(at) and not errors(at)
    assert "The region is empty" in texts(at) and at.session_state["query"].crop is None
