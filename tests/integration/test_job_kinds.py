"""Every kind of job the app runs (revsearch/jobs/work.py), on a real folder with the real model: indexing in place
(and the empty and image-less folders that are warnings, not sources), learning (the suggestions are then ready
without computing), re-clustering, suggesting k, the duplicate comparison, the class folders and the map."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from revsearch import labels, near_duplicates
from revsearch.auth import guarded
from revsearch.auth.roles import ADMIN, LABELLER, VIEWER, Actor, Forbidden
from revsearch.auth.roots import OutsideRoots, Roots
from revsearch.collection import Collection
from revsearch.errors import RevsearchError
from revsearch.jobs import DONE, JobRunner
from revsearch.jobs.work import WORK
from revsearch.workspace import Workspace

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"
CLASSES = ("dress", "hat", "shoes")


@pytest.fixture
def setup(tmp_path: Path, embedder):
    folder = tmp_path / "photos"
    for cls in CLASSES:
        for src in sorted((DEMO / cls).glob("*.jpg"))[:4]:
            (folder / cls).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, folder / cls / src.name)
    ws = Workspace(tmp_path / "data")
    ws.ensure_root()
    info = ws.create("Photos", embedder)
    shared = Collection.open(info.directory)  # the app's shared handle: what jobs derive, pages read
    yield ws, info, folder, JobRunner(WORK, embedder=lambda name: embedder, collections=lambda directory: shared)
    shared.close()


def run(runner: JobRunner, directory, kind: str, params: dict | None = None):
    job = runner.submit(directory, kind, params)
    assert runner.wait(timeout=600)
    assert job.state == DONE, job.error
    return job


def test_indexing_jobs_record_the_folder_only_when_it_holds_images(setup, tmp_path):
    ws, info, folder, runner = setup
    job = run(runner, info.directory, "index", {"root": str(ws.root), "slug": info.slug, "folder": str(folder)})
    assert job.result["report"]["indexed"] == 12 and job.result["found"] == 12
    assert set(job.result["phases"]) == {"model", "embedding", "preparing"} and job.result["seconds"] > 0
    assert ws.info(info.slug).sources == [str(folder.resolve())]

    empty = tmp_path / "empty"
    empty.mkdir()
    job = run(runner, info.directory, "index", {"root": str(ws.root), "slug": info.slug, "folder": str(empty)})
    assert job.result["found"] == 0 and "holds nothing" in job.result["report"]["warnings"][0]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "read me.txt").write_text("no photo here")
    job = run(runner, info.directory, "index", {"root": str(ws.root), "slug": info.slug, "folder": str(notes)})
    assert job.result["found"] == 0 and "holds 1 files, none of them an image" in job.result["report"]["warnings"][0]
    assert ws.info(info.slug).sources == [str(folder.resolve())]  # neither is listed


def test_the_other_kinds(setup):
    ws, info, folder, runner = setup
    files = sorted(str(p) for p in folder.rglob("*.jpg"))
    job = run(runner, info.directory, "index", {"files": files, "rejected": [["notes.txt", "not an image"]]})
    assert job.result["report"]["indexed"] == 12 and job.result["rejected"] == [["notes.txt", "not an image"]]
    with Collection.open(info.directory) as coll:
        by_class = {r.id: Path(r.path).parent.name for r in coll.rows("indexed")}
        labels.label_each(coll, {i: c for i, c in by_class.items() if c != "shoes"})
        assert labels.ready_suggestions(coll) is None or not labels.ready_suggestions(coll)[1]
    job = run(runner, info.directory, "learn")
    assert job.result["trained"] and job.result["labels_version"]
    ready = labels.ready_suggestions(runner.collections(str(info.directory)))
    assert ready is not None and ready[1]  # computed by the job on the shared handle: a page reads them at once
    assert run(runner, info.directory, "recluster", {"k": 3}).result == {"k": 3}
    scored = run(runner, info.directory, "suggest_k").result
    assert scored["best"] in [k for k, _ in scored["scores"]]
    compared = run(runner, info.directory, "duplicates", {"threshold": 0.95}).result
    with Collection.open(info.directory) as coll:
        assert near_duplicates.scanned(coll, 0.95) and compared["threshold"] == 0.95
    assert run(runner, info.directory, "folders").result["classes"] == {c: 4 for c in CLASSES}
    assert run(runner, info.directory, "map").result["action"] in ("cached", "fit", "transform", "pruned")


def test_jobs_started_through_guarded_check_the_role_and_the_allowed_folders(setup, tmp_path):
    """The app starts jobs as the person (revsearch.auth.guarded): the role is checked at the start, a server folder
    must lie inside the allowed folders, and a link in it that leads out of them is left out by the job."""
    ws, info, folder, runner = setup
    outside = tmp_path / "private"
    outside.mkdir()
    shutil.copy2(sorted((DEMO / "skirt").glob("*.jpg"))[0], outside / "secret.jpg")  # a photo not in the folder
    (folder / "link.jpg").symlink_to(outside / "secret.jpg")
    roots = Roots((folder.resolve(),), shared=True)
    viewer, labeller, admin = (Actor(n, role, roots) for n, role in (("v", VIEWER), ("l", LABELLER), ("a", ADMIN)))
    where = {"root": str(ws.root), "slug": info.slug}
    for actor, kind, params in ((viewer, "index", {**where, "folder": str(folder)}), (labeller, "index", where),
                                (viewer, "recluster", {"k": 2}), (viewer, "learn", {"force": True}),
                                (viewer, "duplicates", {"threshold": 0.9})):
        with pytest.raises(Forbidden):
            guarded.start_job(actor, runner, info.directory, kind, params)
    for elsewhere in (outside, tmp_path / "no such folder"):  # confined before checked: existence is not told
        with pytest.raises(OutsideRoots):
            guarded.start_job(admin, runner, info.directory, "index", {**where, "folder": str(elsewhere)})
    with pytest.raises(RevsearchError, match="folder not found"):
        guarded.start_job(admin, runner, info.directory, "index", {**where, "folder": str(folder / "missing")})
    assert runner.all(info.directory) == []  # nothing was started

    job = guarded.start_job(admin, runner, info.directory, "index", {**where, "folder": str(folder)})
    assert job.params["allowed"] == [str(folder.resolve())]
    assert runner.wait(timeout=600) and job.state == DONE, job.error
    assert job.result["report"]["indexed"] == 12  # the link out of the allowed folder was not followed
    with Collection.open(info.directory) as coll:
        assert not [r.path for r in coll.rows("indexed") if r.path.endswith("link.jpg")]
    guarded.start_job(viewer, runner, info.directory, "learn")  # the automatic retrain: anyone's page may start it
    assert runner.wait(timeout=600)
