"""First start, reuse on later starts, the sidebar's model note, and start-up errors as messages."""

from __future__ import annotations

from revsearch.collection import Collection
from revsearch.embed import default_model
from tests.app.conftest import errors, new_app, problems, texts


def test_first_start_builds_the_demo_and_opens_search(data_dir, tiny_demo):
    at = new_app().run()
    assert not problems(at) and not errors(at)
    assert [t.value for t in at.title] == ["Search by image"]
    with Collection.open(data_dir / "collections" / "demo") as coll:
        assert coll.counts()["indexed"] == 6
    # examples to start from, each with "More like this"
    assert sum(1 for b in at.button if b.label == "More like this") >= 3
    # the sidebar names the collection (the name alone, so it is never cut off), its size below, and the model
    assert at.selectbox(key="sidebar_collection").format_func(
        at.selectbox(key="sidebar_collection").value) == "Demo: clothing photos"
    assert "6 images" in [c.value for c in at.sidebar.caption]
    assert "**Model:** EfficientNet-Lite0" in texts(at)


def test_later_starts_reuse_the_demo(app, data_dir):
    coll = Collection.open(data_dir / "collections" / "demo")
    generation = coll.generation
    at = new_app().run()  # a new browser session on the same data directory
    assert not problems(at)
    assert "Welcome to revsearch" not in texts(at)
    assert coll.generation == generation  # nothing re-embedded
    coll.close()


def test_model_note_says_why_lite0_and_how_to_get_resnet(app):
    model, _why = default_model()
    text = texts(app)
    if model == "efficientnet_lite0":
        assert "because the ResNet-50 weights are not on this machine" in text
        assert "resnet50-11ad3fa6.pth" in text  # how to get it: the file and where it goes
    else:
        assert "new collections will use ResNet-50" in text


def test_no_demo_and_no_collection(tmp_path, monkeypatch):
    monkeypatch.setenv("REVSEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("REVSEARCH_DEMO", "off")
    at = new_app().run()
    assert not problems(at)
    assert "No collection yet" in texts(at)


def test_unwritable_data_directory_is_a_message(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("REVSEARCH_DATA", str(blocker / "data"))
    at = new_app().run()
    assert not problems(at)
    assert any("cannot create the data directory" in e for e in errors(at))
