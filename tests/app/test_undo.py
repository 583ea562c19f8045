"""The Undo control: it names the latest labelling action, reverses it on click, and goes one step further back."""

from __future__ import annotations

from revsearch import clusters, labels
from revsearch.collection import Collection
from tests.app.conftest import errors, problems


def undo_buttons(at) -> list:
    return [b for b in at.button if b.label.startswith("Undo: ")]


def test_undo_button_on_the_clusters_and_map_pages(app, data_dir):
    at = app.switch_page("app_pages/clusters.py").run()
    assert not problems(at) and not errors(at) and undo_buttons(at) == []  # nothing to undo yet
    with Collection.open(data_dir / "collections" / "demo") as coll:
        size = clusters.cluster(coll, 0).size
        some = [m.id for m in clusters.members(coll, 1)][:1]
        labels.label_images(coll, some, "mine")
    at.text_input(key="name_input_0_None").input("tops")
    at = [b for b in at.button if b.label == "Name & label"][0].click().run()
    assert not problems(at) and not errors(at)
    [button] = undo_buttons(at)
    assert button.label == f"Undo: named cluster 0 'tops' ({size} image{'s' if size != 1 else ''})"

    at = button.click().run()
    assert not problems(at) and not errors(at)
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert labels.labels(coll) == {some[0]: "mine"} and clusters.cluster_name(coll, 0) is None
    assert any("Undid “named cluster 0 'tops'" in t.value for t in at.toast)

    at = at.switch_page("app_pages/map.py").run()  # the map shows the next step back
    assert not problems(at)
    [button] = undo_buttons(at)
    assert button.label == "Undo: labelled 1 image 'mine'"
    at = button.click().run()
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert labels.labels(coll) == {}
    assert undo_buttons(at) == []
