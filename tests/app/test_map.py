"""Map page: the scatter of every image, colour by cluster or label, and reading a lasso/box selection."""

from __future__ import annotations

import json
from types import SimpleNamespace

from revsearch import labels
from revsearch.collection import Collection
from tests.app.conftest import errors, problems, texts
from ui.maps import PALETTE, figure, group_style, neighbourhood, selected_ids
from ui.map_selection import merge


def test_map_shows_every_image(app):
    at = app.switch_page("app_pages/map.py").run()
    assert not problems(at) and not errors(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    points = [p for trace in spec["data"] for p in trace["customdata"]]
    assert len(points) == 6
    # hover: the file name in the tooltip and a thumbnail (data URI) for the preview panel
    trace = spec["data"][0]
    assert trace["hovertext"][0].startswith("<b>") and ".jpg" in trace["hovertext"][0]
    assert trace["meta"]["thumbs"][0].startswith("data:image/jpeg;base64,")


def test_colour_by_label(app, data_dir):
    with Collection.open(data_dir / "collections" / "demo") as coll:
        first = coll.rows("indexed")[0].id
        labels.label_images(coll, [first], "favourite")
    at = app.switch_page("app_pages/map.py").run()
    at.get("button_group")[0].set_value("label").run()
    assert not problems(at) and not errors(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sorted(t["name"] for t in spec["data"]) == ["favourite", "unlabelled"]


def test_selection_is_read_from_the_chart_event():
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": [7]}, {"customdata": [3]},
                                                              {"customdata": [7]}, {"x": 1}]))
    assert selected_ids(event) == [7, 3]
    assert selected_ids(None) == []


def test_figure_groups_points_by_cluster():
    pts = {"id": [1, 2, 3], "x": [0, 1, 2], "y": [0, 1, 2], "cluster": [0, 1, 0], "label": [None, "a", None],
           "name": ["a.jpg", "b.jpg", "<c>.jpg"]}
    fig = figure(pts, "cluster", {0: "cluster 0", 1: "cluster 1 · shoes"}, {1: "data:x"})
    assert [t.name for t in fig.data] == ["cluster 0", "cluster 1 · shoes"]
    assert [list(t.customdata[:, 0]) if hasattr(t.customdata, "shape") else [c[0] for c in t.customdata]
            for t in fig.data] == [[1, 3], [2]]
    assert "&lt;c&gt;.jpg" in fig.data[0].hovertext[1]  # file names cannot inject markup into the tooltip


def map_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_display_controls_and_a_fitted_view(app):
    at = app.switch_page("app_pages/map.py").run()
    spec = map_spec(at)
    xs = [x for t in spec["data"] for x in t["x"]]
    lo, hi = spec["layout"]["xaxis"]["range"]
    assert lo < min(xs) and hi > max(xs) and (hi - lo) < 1.2 * (max(xs) - min(xs))  # fitted, not mostly empty
    assert "scaleanchor" not in spec["layout"]["yaxis"]
    names = [a["text"] for a in spec["layout"].get("annotations", [])]
    assert len(names) == len(spec["data"])  # every cluster's name at its centre
    at.slider(key="map_point_size").set_value(17)
    at.slider(key="map_opacity").set_value(0.4)
    at.toggle(key="map_names").set_value(False)
    at.run()
    assert not problems(at) and not errors(at)
    spec = map_spec(at)
    assert {t["marker"]["size"] for t in spec["data"]} == {17}
    assert {t["marker"]["opacity"] for t in spec["data"]} == {0.4}
    assert not spec["layout"].get("annotations")


def test_palette_keeps_30_plus_groups_apart():
    styles = [group_style(g, False) for g in range(40)]
    assert len(set(styles)) == 40 and len({c for c, _ in styles[:36]}) == 36
    assert group_style(0, True)[0] not in PALETTE  # "no cluster" stays grey
    pts = {"id": list(range(35)), "x": list(range(35)), "y": [0] * 35, "cluster": list(range(35)),
           "label": [None] * 35, "name": [f"{i}.jpg" for i in range(35)]}
    fig = figure(pts, "cluster", {}, {})
    assert len({t.marker.color for t in fig.data}) == 35


def test_picks_add_up_and_a_repeated_event_adds_nothing():
    assert merge([], [], [3, 4]) == ([3, 4], [3, 4])
    assert merge([3, 4], [3, 4], [3, 4]) == ([3, 4], [3, 4])  # the same event on the next rerun
    assert merge([3, 4], [3, 4], [4, 9]) == ([3, 4, 9], [4, 9])  # a new box or lasso adds
    assert merge([3, 4, 9], [4, 9], []) == ([3, 4, 9], [])  # the chart's pick cleared: the selection stays


def select(at, data_dir, n: int) -> list[int]:
    with Collection.open(data_dir / "collections" / "demo") as coll:
        ids = [r.id for r in coll.rows("indexed")][:n]
    at.session_state["map_selection"] = {"slug": "demo", "ids": ids, "seen": [], "round": 0}
    return ids


def test_selection_grid_untick_one_then_label_the_others(app, data_dir):
    at = app.switch_page("app_pages/map.py").run()
    ids = select(at, data_dir, 4)
    at.run()
    assert not problems(at) and not errors(at)
    assert "4 images selected" in texts(at)
    boxes = [c for c in at.checkbox if c.key.startswith("keep_demo_")]
    assert len(boxes) == 4 and all(c.value for c in boxes)
    at.checkbox(key=f"keep_demo_0_{ids[1]}").uncheck().run()
    assert "4 images selected · 3 ticked" in texts(at)
    at.text_input(key="selection_label").input("picked")
    next(b for b in at.button if b.label == "Label 3 ticked").click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        known = labels.labels(coll)
    assert {i: known.get(i) for i in ids} == {ids[0]: "picked", ids[1]: None, ids[2]: "picked", ids[3]: "picked"}
    assert "No images selected." in texts(at)  # labelling ends the selection


def test_drop_unticked_and_clear(app, data_dir):
    at = app.switch_page("app_pages/map.py").run()
    ids = select(at, data_dir, 3)
    at.run()
    at.checkbox(key=f"keep_demo_0_{ids[0]}").uncheck().run()
    next(b for b in at.button if b.label == "Drop unticked").click().run()
    assert at.session_state["map_selection"]["ids"] == ids[1:]
    assert "2 images selected" in texts(at)
    at.button(key="clear_selection").click().run()
    assert not problems(at) and "No images selected." in texts(at)
    assert at.session_state["map_selection"]["round"] == 1  # a new chart: its own box or lasso is gone too


def test_a_selected_map_point_opens_its_detail_view(app, data_dir):
    at = app.switch_page("app_pages/map.py").run()
    ids = select(at, data_dir, 2)
    at.run()
    at.button(key=f"sel_detail_{ids[1]}").click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        path = coll.get(ids[1]).path
    assert [c.value for c in at.code] == [path]  # the dialog shows the full path of the point picked


def test_the_query_map_zooms_to_the_neighbourhood():
    xs, ys = [0.0, 10.0, 0.0, 10.0, 5.0, 5.2], [0.0, 0.0, 10.0, 10.0, 5.0, 5.1]
    (x0, x1), (y0, y1) = neighbourhood([(5.0, 5.0), (5.2, 5.1)], xs, ys)
    assert x0 < 5.0 and x1 > 5.2 and y0 < 5.0 and y1 > 5.1  # the query and its results are in view …
    assert x1 - x0 <= 2.0 and y1 - y0 <= 2.0  # … and fill it (15 % of the map at least, not a tiny corner)
    assert neighbourhood([(0.0, 0.0), (10.0, 10.0)], xs, ys) is None  # results all over: the whole map


def test_search_on_the_map_shows_the_results_close_up(app, data_dir):
    app.sidebar.slider(key="search_k").set_value(1)
    at = [b for b in app.run().button if b.label == "More like this"][0].click().run()
    at.session_state["search_tab"] = ":material/scatter_plot: On the map"
    at.run()
    assert not problems(at) and not errors(at)
    spec = map_spec(at)
    xs = [x for x in spec["data"][0]["x"]]
    lo, hi = spec["layout"]["xaxis"]["range"]
    ylo, yhi = spec["layout"]["yaxis"]["range"]
    ys = spec["data"][0]["y"]
    assert (hi - lo) < 0.9 * (max(xs) - min(xs)) or (yhi - ylo) < 0.9 * (max(ys) - min(ys))  # zoomed in
    [result] = [t for t in spec["data"] if t.get("name") == "results"]
    assert lo <= result["x"][0] <= hi and ylo <= result["y"][0] <= yhi
    assert "zoomed to the query's neighbourhood" in texts(at)
