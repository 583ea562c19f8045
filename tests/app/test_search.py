"""Search page: upload-style query, "more like this", k / minimum score, montage, CSV, map, labelling, errors."""

from __future__ import annotations

from pathlib import Path

from revsearch import labels
from revsearch.collection import Collection
from tests.app.conftest import errors, problems, resized_jpeg, texts
from ui.queries import Query


def demo_file(data_dir: Path, cls: str = "shoes") -> Path:
    return sorted((data_dir / "collections" / "demo" / "files" / cls).glob("*.jpg"))[0]


def search_with(app, data_dir: Path, cls: str = "shoes"):
    target = demo_file(data_dir, cls)
    app.session_state["query"] = Query("upload", "query.jpg", data=resized_jpeg(target))
    return app.run(), target


def test_resized_copy_finds_its_original_first(app, data_dir):
    at, target = search_with(app, data_dir)
    assert not problems(at) and not errors(at)
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]
    assert "**#1** · " in texts(at) and "**#6** · " in texts(at)  # all 6 demo photos ranked (k = 12 > 6)
    assert [b.label for b in at.get("download_button")] == ["Download results (CSV)"]


def test_k_and_minimum_score(app, data_dir):
    at, _ = search_with(app, data_dir)
    at.slider(key="search_k").set_value(2).run()
    assert "**#2** · " in texts(at) and "**#3** · " not in texts(at)
    at.slider(key="search_min_score").set_value(1.0).run()
    assert not problems(at)
    assert "No result reaches a similarity of 1.00" in texts(at)


def test_more_like_this(app):
    more = [b for b in app.button if b.label == "More like this"]
    more[0].click()
    at = app.run()
    assert not problems(at) and not errors(at)
    assert "(from this collection)" in texts(at)
    assert "**#1** · " in texts(at)
    assert "**#6** · " not in texts(at)  # the query image itself is left out of its results


def test_montage_and_map_tabs(app, data_dir):
    at, _ = search_with(app, data_dir)
    at.session_state["search_tab"] = ":material/photo_library: Montage"
    at.run()
    assert not problems(at) and not errors(at)
    assert [b.label for b in at.get("download_button")] == ["Download montage (PNG)"]
    assert len(at.get("image")) >= 1
    at.session_state["search_tab"] = ":material/scatter_plot: On the map"
    at.run()
    assert not problems(at) and not errors(at)
    assert len(at.get("plotly_chart")) == 1


def test_label_results_persists(app, data_dir):
    at, target = search_with(app, data_dir)
    at.session_state["search_tab"] = ":material/label: Label these"
    at.run()
    at.multiselect[0].set_value(at.multiselect[0].value[:2])
    at.text_input(key="label_results_name").input("footwear")
    next(b for b in at.button if b.label == "Apply label").click()
    at.run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        saved = labels.labels(coll)
        assert sorted(saved.values()) == ["footwear", "footwear"]
        assert coll.by_path(target).id in saved  # the top result was among the first two
    at.session_state["search_tab"] = ":material/grid_view: Results"
    at.run()
    assert "footwear" in texts(at)  # the grid shows the new label


def test_undecodable_query_is_a_message(app):
    app.session_state["query"] = Query("upload", "broken.jpg", data=b"\xff\xd8\xff this is no jpeg")
    at = app.run()
    assert not problems(at)
    assert any("Searching did not work" in e and "That file isn't an image we can read (" in e for e in errors(at))


def test_an_uploaded_query_is_kept_across_pages(app, data_dir):
    """The uploader comes back empty after another page (Streamlit forgets a page's widgets): the query stays."""
    target = demo_file(data_dir)
    app.session_state["query"] = Query("upload", "query.jpg", data=resized_jpeg(target))
    app.session_state["query_file_id"] = "as-if-uploaded"  # what the old code watched, and dropped the query on
    at = app.run()
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]
    at = at.switch_page("app_pages/map.py").run()
    at = at.switch_page("app_pages/search.py").run()
    assert not problems(at) and not errors(at)
    assert at.session_state["query"].name == "query.jpg"
    assert f"#### Top match: {target.name}" in [m.value for m in at.markdown]
    at = next(b for b in at.button if b.key == "clear_query").click().run()  # a person's act clears it
    assert "query" not in at.session_state and "Upload a photo" in texts(at)


def test_every_button_has_a_name_and_hints_come_from_the_collection(app, data_dir):
    at, _ = search_with(app, data_dir)
    assert not problems(at)
    nameless = [b.key for b in at.button if not (b.label or "").strip()]
    assert nameless == []  # icon-only buttons (thumbs) still have a name for screen readers
    assert {b.label for b in at.button if (b.key or "").startswith("search_fb_")} == {"Thumbs up", "Thumbs down"}
    with Collection.open(data_dir / "collections" / "demo") as coll:
        labels.label_images(coll, [r.id for r in coll.rows("indexed")][:3], "sneaker")
        labels.label_images(coll, [r.id for r in coll.rows("indexed")][3:4], "tote")
    at.session_state["search_tab"] = ":material/label: Label these"
    at.run()
    assert at.text_input(key="label_results_name").placeholder == "e.g. sneaker, tote"  # not "e.g. red dress"


def test_undo_sits_beside_the_results_whatever_the_tab(app, data_dir):
    at, _ = search_with(app, data_dir)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        labels.label_images(coll, [r.id for r in coll.rows("indexed")][:1], "sneaker")
    at.run()
    [undo] = [b for b in at.button if b.label.startswith("Undo: ")]  # on the Results tab, not only on Label these
    undo.click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert labels.labels(coll) == {}
