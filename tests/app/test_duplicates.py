"""Duplicates page: near-duplicate groups side by side with scores; exact copies marked."""

from __future__ import annotations

import io

from revsearch.indexing.adding import add_images
from revsearch.uploads import save_uploads
from revsearch.workspace import Workspace
from tests.app.conftest import errors, new_app, problems, resized_jpeg, texts


class Named(io.BytesIO):
    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


def test_no_duplicates_message(app):
    # the default threshold of a new (two-view) collection, see near_duplicates.THRESHOLDS
    at = app.switch_page("app_pages/duplicates.py").run()
    assert not problems(at) and not errors(at)
    assert "No two images are 0.92 similar or more" in texts(at)


def test_groups_show_copies_with_scores(data_dir, tiny_demo):
    original = sorted((tiny_demo / "shoes").glob("*.jpg"))[0]
    at = new_app().run()  # first start: the demo
    ws = Workspace(data_dir)
    from ui.state import loaded_embedder

    saved = save_uploads(ws.info("demo").files_dir, [Named("copies/exact.jpg", original.read_bytes()),
                                                     Named("copies/smaller.jpg", resized_jpeg(original, 0.5))])
    with ws.open("demo") as coll:
        add_images(coll, saved.paths, loaded_embedder("efficientnet_lite0"), prepare=False)
    at = at.switch_page("app_pages/duplicates.py").run()
    assert not problems(at) and not errors(at)
    text = texts(at)
    assert "**1 group**, 3 images" in text
    assert "anchor" in text and "exact copy" in text and "smaller\\.jpg" in text  # names are shown literally (markdown-escaped)
    # "More like this" on a group member opens the search on it
    next(b for b in at.button if b.label == "More like this").click().run()
    assert not problems(at) and not errors(at)
    assert [t.value for t in at.title] == ["Search by image"] and "(from this collection)" in texts(at)


def with_copies(data_dir, tiny_demo):
    """The demo plus an exact and a resized copy of one photo: one group of three. Returns the started app."""
    original = sorted((tiny_demo / "shoes").glob("*.jpg"))[0]
    at = new_app().run()
    ws = Workspace(data_dir)
    from ui.state import loaded_embedder

    saved = save_uploads(ws.info("demo").files_dir, [Named("copies/exact.jpg", original.read_bytes()),
                                                     Named("copies/smaller.jpg", resized_jpeg(original, 0.5))])
    with ws.open("demo") as coll:
        add_images(coll, saved.paths, loaded_embedder("efficientnet_lite0"), prepare=False)
    return at.switch_page("app_pages/duplicates.py").run()


def test_not_a_duplicate_is_remembered(data_dir, tiny_demo):
    at = with_copies(data_dir, tiny_demo)
    assert "**1 group**, 3 images" in texts(at)
    [button] = [b for b in at.button if b.label == "Not a duplicate"]  # only the near (not exact) copy has one
    button.click().run()
    assert not problems(at) and not errors(at)
    assert "**1 group**, 2 images" in texts(at) and "smaller\\.jpg" not in texts(at)
    at = new_app().run().switch_page("app_pages/duplicates.py").run()  # a new session: still remembered
    assert "**1 group**, 2 images" in texts(at)


def test_redundant_csv_and_move_with_undo(data_dir, tiny_demo, tmp_path):
    at = with_copies(data_dir, tiny_demo)
    assert [b.label for b in at.get("download_button")] == ["Redundant copies (2) as CSV"]
    files = data_dir / "collections" / "demo" / "files"
    before = sorted(p.relative_to(files) for p in files.rglob("*.jpg"))
    aside = tmp_path / "aside"
    at.text_input(key="dup_move_folder").input(str(aside))
    next(b for b in at.button if b.label == "Move 2 copies").click().run()
    assert not problems(at) and not errors(at)
    assert len(list(aside.glob("*.jpg"))) == 2
    assert len(sorted(files.rglob("*.jpg"))) == len(before) - 2  # moved, not copied; nothing deleted
    assert "No two images are 0.92 similar or more" in texts(at)
    at.button(key="dup_undo").click().run()
    assert not problems(at) and not errors(at)
    assert sorted(p.relative_to(files) for p in files.rglob("*.jpg")) == before and not list(aside.glob("*.jpg"))
    assert "**1 group**, 3 images" in texts(at)
    assert not [b for b in at.button if b.label == "Undo"]


def test_move_to_a_relative_folder_is_a_message(data_dir, tiny_demo):
    at = with_copies(data_dir, tiny_demo)
    at.text_input(key="dup_move_folder").input("somewhere")
    next(b for b in at.button if b.label == "Move 2 copies").click().run()
    assert not problems(at)
    assert any("full path" in e for e in errors(at))
