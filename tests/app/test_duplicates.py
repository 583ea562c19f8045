"""Duplicates page: near-duplicate groups side by side with scores; exact copies marked."""

from __future__ import annotations

import io

from revsearch.adding import add_images
from revsearch.uploads import save_uploads
from revsearch.workspace import Workspace
from tests.app.conftest import errors, new_app, problems, resized_jpeg, texts


class Named(io.BytesIO):
    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


def test_no_duplicates_message(app):
    at = app.switch_page("app_pages/duplicates.py").run()
    assert not problems(at) and not errors(at)
    assert "No two images are 0.90 similar or more" in texts(at)


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
