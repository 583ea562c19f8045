"""Check page: label issues beside typical images with one click per fix (undoable), confirming a label, the quality
grid, and the overlap check against a folder — on the real app, the real model and real photos."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from revsearch import labels
from revsearch.indexing.adding import add_images
from revsearch.uploads import save_uploads
from revsearch.workspace import Workspace
from tests.app.conftest import DEMO, TINY_CLASSES, errors, new_app, problems, resized_jpeg, texts

PAGE = "app_pages/check.py"


class Named(io.BytesIO):
    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


def jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def checked(data_dir: Path):
    """The tiny demo grown to 8 photos of each of its 3 classes (plus a darkened copy of a hat), every photo labelled
    with its class folder, then one dress labelled "hat" and one hat labelled "dress". Returns (app, wrong ids)."""
    at = new_app().run()
    ws = Workspace(data_dir)
    more = [Named(f"more/{cls}/{p.name}", p.read_bytes()) for cls in TINY_CLASSES
            for p in sorted((DEMO / cls).glob("*.jpg"))[2:]]
    with Image.open(sorted((DEMO / "hat").glob("*.jpg"))[3]) as im:
        more.append(Named("junk/dark.jpg", jpeg(ImageEnhance.Brightness(im.convert("RGB")).enhance(0.2))))
    saved = save_uploads(ws.info("demo").files_dir, more)
    from ui.state import loaded_embedder

    with ws.open("demo") as coll:
        add_images(coll, saved.paths, loaded_embedder("efficientnet_lite0"), prepare=False)
        rows = [r for r in coll.rows("indexed") if Path(r.path).parent.name in TINY_CLASSES]
        labels.label_each(coll, {r.id: Path(r.path).parent.name for r in rows}, source="import")
        first = {cls: min((r for r in rows if Path(r.path).parent.name == cls), key=lambda r: Path(r.path).name)
                 for cls in ("dress", "hat")}
        labels.label_images(coll, [first["dress"].id], "hat")
        labels.label_images(coll, [first["hat"].id], "dress")
    at = at.switch_page(PAGE).run()
    assert not problems(at) and not errors(at)
    return at, {first["dress"].id: "dress", first["hat"].id: "hat"}


def current_labels(data_dir: Path, ids) -> dict[int, str]:
    with Workspace(data_dir).open("demo") as coll:
        return labels.labels(coll, list(ids))


def click(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert not problems(at) and not errors(at)
    return at


def test_label_issues_fixed_confirmed_and_undone(checked, data_dir):
    at, wrong = checked
    assert "**2** label issues" in texts(at)
    assert "Given: **hat** — typical images" in texts(at) and "Suggested: **dress** — typical images" in texts(at)
    dress_as_hat = next(i for i, truth in wrong.items() if truth == "dress")
    at = click(at, "Take “dress”")  # the issue of the dress labelled hat: one click fixes it
    assert current_labels(data_dir, [dress_as_hat])[dress_as_hat] == "dress"
    assert "**1** label issue," in texts(at)
    undo = next(b for b in at.button if b.label.startswith("Undo: labelled 1 image"))
    undo.click().run()
    assert current_labels(data_dir, [dress_as_hat])[dress_as_hat] == "hat" and "**2** label issues" in texts(at)

    at = click(at, "Label is right")  # remembered: not reported again, also in a new session
    assert "**1** label issue," in texts(at)
    assert "**1** label issue," in texts(new_app().run().switch_page(PAGE).run())
    at = click(at, "Undo: confirmed 1 label")
    assert "**2** label issues" in texts(at)

    at = click(at, "Take every suggestion on this page (2)")
    assert current_labels(data_dir, wrong) == wrong
    assert "No label looks wrong" in texts(at)


def test_quality_grid_and_overlap_with_a_folder(checked, tmp_path):
    at, _ = checked
    at.session_state["check_tab"] = ":material/image_search: Image quality"
    at.run()
    assert not problems(at) and not errors(at)
    assert "dark" in at.multiselect(key="check_issue_filter").value
    assert "**dark" in texts(at) and "dark\\.jpg" in texts(at)  # file names shown literally
    at = click(at, next(b.label for b in at.button if b.key and b.key.startswith("check_qexclude_")))
    assert "dark\\.jpg" not in texts(at)  # left out of exports: no longer reported
    at = click(at, next(b.label for b in at.button if b.label.startswith("Undo: excluded 1 image (audit: dark")))
    assert "dark\\.jpg" in texts(at)

    outside = tmp_path / "test-set"
    outside.mkdir()
    (outside / "copy.jpg").write_bytes(resized_jpeg(sorted((DEMO / "shoes").glob("*.jpg"))[0], 0.5))
    (outside / "unrelated.jpg").write_bytes(jpeg(Image.new("RGB", (300, 200), (20, 120, 200))))
    at.session_state["check_tab"] = ":material/join_inner: Overlap with a test set"
    at.run()
    at.text_input(key="check_against_folder").input(str(outside))
    next(b for b in at.button if b.label == "Compare").click().run()
    assert not problems(at) and not errors(at)
    assert "**1 outside image** copy images of this collection" in texts(at)
    assert "copy\\.jpg" in texts(at) and "unrelated" not in texts(at)


def test_a_large_collection_is_checked_in_the_background(app, monkeypatch):
    from ui import checking

    monkeypatch.setattr(checking, "ON_DEMAND_ABOVE", 0)  # the tiny demo counts as large here
    at = app.switch_page(PAGE).run()
    assert not problems(at) and "Checking all 6 images takes a minute or more" in texts(at)
    at = click(at, "Check the dataset")
    for _ in range(60):  # the page follows the background audit; it shows the result once it is done
        if "**6** images" in texts(at):
            break
        time.sleep(1)
        at.run()
    assert not problems(at) and not errors(at) and "**6** images, **0** labelled" in texts(at)
    at = at.switch_page("app_pages/search.py").run().switch_page(PAGE).run()  # kept: not checked again
    assert "**6** images" in texts(at) and not [b for b in at.button if b.label == "Check the dataset"]
