"""Map page: the scatter of every image, colour by cluster or label, and reading a lasso/box selection."""

from __future__ import annotations

import json
from types import SimpleNamespace

from revsearch import labels
from revsearch.collection import Collection
from tests.app.conftest import errors, problems
from ui.explore import figure, selected_ids


def test_map_shows_every_image(app):
    at = app.switch_page("app_pages/explore.py").run()
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
    at = app.switch_page("app_pages/explore.py").run()
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
