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


def set_region(at, prefix: str, box: tuple[int, int, int, int]):
    """Type a region into the picker whose keys start with `prefix` (the number boxes beside the picture)."""
    for name, value in zip(("x", "y", "w", "h"), box):
        [field] = [n for n in at.number_input if n.key and n.key.startswith(prefix) and n.key.endswith(f"_{name}")]
        field.set_value(value)
        at.run()
    return at


def test_region_from_the_details_finds_its_image(app, data_dir):
    at, target = exact_search(app, data_dir)
    at = open_details(at)
    assert not [c for c in at.get("plotly_chart")]  # the picker is drawn only once its panel is opened
    with Collection.open(data_dir / "collections" / "demo") as coll:
        at.session_state[f"detail_region_{coll.by_path(target).id}"] = True  # open the panel
    at.run()
    with Image.open(target) as im:
        w, h = im.size
    box = (w // 4, h // 5, w // 2, h // 2)
    at = set_region(at, "detail_crop_", box)
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
    at.session_state["query_region_panel"] = True  # open the panel
    at = set_region(at.run(), "crop_", (w // 3, h // 4, w - w // 4 - w // 3, h - h // 3 - h // 4))
    assert not problems(at) and not errors(at)
    assert at.session_state["query"].crop == (w // 3, h // 4, w - w // 4 - w // 3, h - h // 3 - h // 4)
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]
    assert at.session_state["query_region_panel"]  # the panel stayed open through every change
    at = set_region(at, "crop_", (w - 5, 0, w, h))  # past the right edge: clamped to the image, never empty
    assert at.session_state["query"].crop == (w - 5, 0, 5, h) and "--crop " + f"{w - 5},0,5,{h}" in texts(at)
    next(b for b in at.button if (b.key or "").endswith("_whole")).click().run()  # the whole picture again
    assert not problems(at) and not errors(at) and at.session_state["query"].crop is None


def test_a_drawn_box_becomes_the_region():
    """What Plotly's box select hands back (original-pixel units, any direction, past the edges) → the region."""
    from ui.crop import from_selection

    drawn = {"selection": {"points": [], "box": [{"x": [10.4, 90.6], "y": [200, 30]}], "lasso": []}}
    assert from_selection(drawn, (120, 150)) == (10, 30, 81, 120)
    assert from_selection({"selection": {"box": [{"x": [-20, 500], "y": [-1, 2]}]}}, (120, 150)) == (0, 0, 120, 2)
    assert from_selection({"selection": {"box": []}}, (120, 150)) is None and from_selection(None, (1, 1)) is None


def test_a_label_set_in_the_details_is_undone_there(app, data_dir):
    at, target = exact_search(app, data_dir)
    at = open_details(at)
    at.text_input(key="detail_label_name").input("sneaker")
    next(b for b in at.button if b.label == "Label it").click().run()
    at = open_details(at)  # the dialog is open again on the next run (the page was redrawn)
    [undo] = [b for b in at.button if b.key == "undo_detail"]
    assert undo.label == "Undo: labelled 1 image 'sneaker'"
    undo.click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert labels.labels(coll) == {}
