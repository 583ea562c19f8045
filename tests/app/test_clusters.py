"""Clusters page: montages, naming (labels persist), merge, re-cluster, suggest k, suggestions, exports."""

from __future__ import annotations

import json

import pyarrow as pa

from revsearch import clusters, labels
from revsearch.collection import Collection
from tests.app.conftest import errors, problems, settled, texts


def open_page(app):
    at = app.switch_page("app_pages/clusters.py").run()
    assert not problems(at) and not errors(at)
    return at


def click(at, label: str, nth: int = 0):
    [b for b in at.button if b.label == label][nth].click()
    return at.run()


def test_clusters_show_size_cohesion_and_montage(app, data_dir):
    at = open_page(app)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        found = clusters.clustering(coll)
    assert found is not None and len(found.clusters) == 2
    text = texts(at)
    for c in found.clusters:
        assert f"Cluster {c.id}" in text
        assert f"**{c.size}** image" in text and f"cohesion **{c.cohesion:.2f}**" in text
    assert len(at.get("image")) >= 2  # one montage per cluster
    assert sorted(b.label for b in at.get("download_button")) == ["Dataset card (.md)", "ImageFolder (.zip)",
                                                                   "Labels (.csv)", "Labels (.json)"]


def test_naming_a_cluster_labels_its_images_and_persists(app, data_dir):
    at = open_page(app)
    at.text_input(key="name_input_0_None").input("tops")
    at = click(at, "Name & label")
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        members = {m.id for m in clusters.members(coll, 0)}
        saved = labels.labels(coll)
    assert members and {i: saved.get(i) for i in members} == {i: "tops" for i in members}
    assert "0 · tops" in texts(at)  # the cluster now shows its name
    # the suggestions are worked out in the background (the click does not wait for them), then shown:
    at = settled(at)
    # one kind labelled: no image is a confident match yet, but every other one can take its best guess at once
    assert "Label suggestions" in texts(at)
    assert "is a confident match for your labels yet" in texts(at)
    guess = [b.label for b in at.button if b.label.startswith("Label all ") and b.label.endswith("best guess")]
    assert len(guess) == 1
    at = click(at, guess[0])
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert len(labels.labels(coll)) == 6  # every image labelled now


def test_recluster_and_merge(app, data_dir):
    at = open_page(app)
    at.number_input[0].set_value(3)
    at = click(at, "Re-cluster with this k")
    assert not problems(at) and not errors(at)
    at = settled(at)  # re-clustering runs in the background; the page shows the new clusters when it is done
    assert "**3 clusters**" in texts(at)
    at.multiselect[0].set_value([0, 1])
    at.text_input[0].input("merged")
    at = click(at, "Merge")
    assert not problems(at) and not errors(at)
    assert "**2 clusters**" in texts(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert {c.name for c in clusters.clustering(coll).clusters} == {"merged", None}


def test_suggest_k(app):
    at = open_page(app)
    at = click(at, "Suggest a k")
    assert not problems(at) and not errors(at)
    at = settled(at)
    assert "Suggested **k = " in texts(at)


def test_merge_needs_two_clusters_message(app):
    at = open_page(app)
    at.multiselect[0].set_value([0])
    at = click(at, "Merge")
    assert not problems(at)
    assert any("at least two clusters" in e for e in errors(at))


def test_browse_a_cluster_then_more_like_this(app):
    at = open_page(app)
    at.button(key="browse_0").click().run()
    assert not problems(at) and not errors(at)
    more = [b for b in at.button if b.label == "More like this"]
    assert more
    more[0].click().run()
    assert not problems(at) and not errors(at)
    assert [t.value for t in at.title] == ["Search by image"]
    assert "(from this collection)" in texts(at)


def test_label_quality_readout(app, data_dir):
    with Collection.open(data_dir / "collections" / "demo") as coll:
        rows = coll.rows("indexed")
        for row in rows:
            labels.label_images(coll, [row.id], row.path.split("/")[-2])  # the demo's class folders
    at = open_page(app)
    at = click(at, "Measure label quality")
    assert not problems(at) and not errors(at)
    assert "Over 6 labelled images: mAP **" in texts(at)


def test_silhouette_chart_orders_k_as_numbers(app):
    at = open_page(app)
    scores = {k: 0.1 + 0.01 * k for k in (10, 2, 30, 3, 11, 20)}  # as text they would sort 10, 11, 2, 20, 3, 30
    at.session_state["suggest_demo"] = {"best": 30, "scores": scores}
    at.run()
    assert not problems(at) and not errors(at)
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    table = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all()
    assert table.column("k").to_pylist() == [2, 3, 10, 11, 20, 30]  # drawn in this order (sort: none)
    assert spec["encoding"]["x"]["field"] == "k" and spec["encoding"]["x"].get("sort", "missing") is None


def test_name_and_label_with_an_empty_name_says_so(app, data_dir):
    at = open_page(app)
    at = click(at, "Name & label")
    assert not problems(at) and not errors(at)
    assert "Type or pick a label first." in [w.value for w in at.warning]
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert labels.labels(coll) == {}
