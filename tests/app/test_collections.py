"""Collections page: create, add a server-side folder with a summary, switch, delete; mistakes are messages."""

from __future__ import annotations

from revsearch import busy
from revsearch.collection import Collection
from tests.app.conftest import errors, new_app, problems, settled, texts
from ui import jobs
from ui.progress_text import index_summary


def collections_page(app):
    at = app.switch_page("app_pages/collections.py").run()
    assert not problems(at) and not errors(at)
    return at


def path_tab(at):
    at.session_state["add_images_tab"] = ":material/dns: Folder on this machine"
    return at.run()


def create(at, name: str):
    box = next(t for t in at.text_input if t.label == "Name")
    box.input(name)
    next(b for b in at.button if b.label == "Create").click()
    return at.run()


def test_create_index_folder_switch_delete(app, data_dir, tiny_demo):
    at = collections_page(app)
    at = create(at, "Holiday photos")
    assert not problems(at) and not errors(at)
    assert at.session_state["collection"] == "holiday-photos"
    assert "Add images to “Holiday photos”" in texts(at)

    at = path_tab(at)
    next(t for t in at.text_input if t.label == "Folder path").input(str(tiny_demo))
    next(b for b in at.button if b.label == "Index this folder").click()
    at.run()
    assert not problems(at) and not errors(at)
    at = settled(at)  # indexing is a background job: the page shows its summary once it is done
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Indexed"] == "6" and metrics["Skipped"] == "0" and metrics["Duplicates"] == "0"
    # the time reported is the whole run's (model, embedding and preparing the pages), with where it went
    summary = index_summary(jobs.runner().latest(data_dir / "collections" / "holiday-photos", "index").result)
    assert summary["seconds"] > 0 and "embedding" in summary["breakdown"]
    assert at.success[0].value.startswith(f"Done in {summary['seconds']:.1f} s (")
    with Collection.open(data_dir / "collections" / "holiday-photos") as coll:
        assert coll.counts()["indexed"] == 6

    # search works on the new collection at once (clusters and map were prepared after indexing)
    at.switch_page("app_pages/search.py").run()
    assert not problems(at) and not errors(at)
    assert sum(1 for b in at.button if b.label == "More like this") == 6

    # switch with the sidebar, and with the list's "Use" button; then delete the new collection
    at.selectbox(key="sidebar_collection").set_value("demo").run()
    assert at.session_state["collection"] == "demo"
    at.selectbox(key="sidebar_collection").set_value("holiday-photos").run()
    assert at.session_state["collection"] == "holiday-photos"
    at = collections_page(at)
    at.button(key="use_demo").click().run()
    assert at.session_state["collection"] == "demo"
    at.button(key="delete_holiday-photos").click().run()
    assert not problems(at) and not errors(at)
    assert not (data_dir / "collections" / "holiday-photos").exists()
    assert tiny_demo.is_dir() and len(list(tiny_demo.rglob("*.jpg"))) == 6  # indexed in place: never touched


def test_mistakes_are_messages(app, tmp_path):
    at = collections_page(app)
    at = create(at, "Demo: clothing photos")
    assert any("already exists" in e for e in errors(at))
    at = create(at, "   ")
    assert any("give the collection a name" in e for e in errors(at))
    at = path_tab(at)
    next(t for t in at.text_input if t.label == "Folder path").input(str(tmp_path / "missing"))
    next(b for b in at.button if b.label == "Index this folder").click()
    at.run()
    assert not problems(at)
    assert any("folder not found" in e for e in errors(at))


def popovers(block) -> list:
    """Every popover block under `block` (AppTest lists popovers as blocks, not elements)."""
    found = []
    for child in getattr(block, "children", {}).values():
        if getattr(child, "type", "") == "popover":
            found.append(child)
        found += popovers(child)
    return found


def test_a_collection_being_indexed_shows_it_and_cannot_be_deleted(app, data_dir):
    at = collections_page(app)
    at = create(at, "Busy photos")
    directory = data_dir / "collections" / "busy-photos"
    with busy.indexing(directory):  # an indexing run (another session, or the CLI) holds the collection
        at = collections_page(at)
        assert "being indexed now" in texts(at) and "0 images so far" in texts(at)
        deletes = [p.proto.popover for p in popovers(at.main) if p.proto.popover.label == "Delete"]
        assert [(d.disabled, "being indexed" in d.help) for d in deletes] == [(False, False), (True, True)]
    at = collections_page(at)
    assert "being indexed now" not in texts(at)
    at.button(key="delete_busy-photos").click().run()
    assert not problems(at) and not errors(at)
    assert not directory.exists()
