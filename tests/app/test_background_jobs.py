"""Background jobs in the app: indexing runs as a job of the server (another session sees it in its sidebar), an
interrupted job offers to resume, an empty or image-less folder is a warning and is not listed, a mistake replaces the
old status, and the counts of the summary and the sidebar agree."""

from __future__ import annotations

import os
import time
from pathlib import Path

from revsearch import busy
from revsearch.jobs import RUNNING, records
from revsearch.workspace import Workspace
from tests.app.conftest import errors, new_app, problems, settled, texts
from ui import jobs


def index_folder(at, folder: Path):
    at.session_state["add_images_tab"] = ":material/dns: Folder on this machine"
    at = at.switch_page("app_pages/collections.py").run()
    next(t for t in at.text_input if t.label == "Folder path").input(str(folder))
    next(b for b in at.button if b.label == "Index this folder").click()
    return at.run()


def sidebar_text(at) -> str:
    parts = [p.proto.text for p in at.sidebar.get("progress")] + [c.value for c in at.sidebar.caption]
    return "\n".join(parts)


def test_an_indexing_job_is_seen_from_another_session_while_it_runs(app, data_dir, tiny_demo):
    demo = data_dir / "collections" / "demo"
    with busy.exclusive(demo, "hold the collection"):  # the job waits at the start of indexing until released
        at = index_folder(app, tiny_demo)
        assert not problems(at) and not errors(at)
        assert "Indexing runs in the background" in texts(at)
        other = new_app()  # a second tab: its own session, the same server
        other.run()
        assert not problems(other)
        for _ in range(100):  # the job loads the model, then waits for the collection
            other.run()
            if "Indexing tiny" in sidebar_text(other):
                break
            time.sleep(0.1)
        assert "Indexing tiny" in sidebar_text(other)
    other = settled(other)
    assert "Indexing tiny" not in sidebar_text(other)
    at = settled(at.switch_page("app_pages/collections.py"))
    assert "new images indexed" in texts(at) or "Done in" in "\n".join(s.value for s in at.success)


def test_an_interrupted_job_says_so_and_resumes(app, data_dir, tiny_demo):
    demo = data_dir / "collections" / "demo"
    dead = {"id": "cut-short", "kind": "index", "state": RUNNING, "started_at": time.time() - 60,
            "params": {"root": str(data_dir), "slug": "demo", "folder": str(tiny_demo)}, "done": 2, "total": 6,
            "pid": os.getpid(), "token": "the server before the restart"}
    records.save(demo, [dead])
    jobs.runner().loaded.discard(str(demo))  # this server reads the records again, as a new server would
    at = app.run()
    assert f"Indexing {tiny_demo.name} was interrupted at 2 of 6 when the server stopped" in sidebar_text(at)
    at.sidebar.button(key="resume_cut-short").click().run()
    at = settled(at)
    assert "interrupted" not in sidebar_text(at)
    assert jobs.runner().latest(demo, "index").state == "done"
    assert str(tiny_demo.resolve()) in Workspace(data_dir).info("demo").sources


def test_an_empty_or_imageless_folder_is_a_warning_and_not_listed(app, data_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    at = settled(index_folder(app, empty))
    assert not problems(at) and not errors(at)
    assert not at.success and any("No image found" in w.value for w in at.warning)
    assert any("holds nothing" in w.value for w in at.warning)
    assert "Folders indexed in place" not in texts(at)

    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("a.txt", "b.txt"):
        (notes / name).write_text("not a photo")
    at = settled(index_folder(at, notes))
    assert any("holds 2 files, none of them an image" in w.value for w in at.warning)
    assert "Folders indexed in place" not in texts(at)
    # the summary and the sidebar count the same skipped files
    assert {m.label: m.value for m in at.metric}["Skipped"] == "2"
    assert "· 2 skipped files" in "\n".join(c.value for c in at.sidebar.caption)


def test_a_mistake_replaces_the_old_status(app, data_dir, tiny_demo, tmp_path):
    at = settled(index_folder(app, tiny_demo))
    assert any(s.value.startswith("Done in") for s in at.success)
    at = index_folder(at, tmp_path / "missing")
    assert any("folder not found" in e for e in errors(at))
    assert not at.success and not at.metric  # the old "Done" is gone, not left above the error
    at = settled(index_folder(at, tiny_demo))
    assert not errors(at) and any(s.value.startswith("Done in") for s in at.success)
