"""The app's way to the engine's writing actions: each checks the actor's role before it calls the engine, confines
server-side paths to the allowed folders, and passes the actor's name on as the user the label actions record.

The app hides the controls a role may not use; this layer refuses them all the same (`Forbidden`), whatever a
browser sends and whenever the role changed since the page was drawn. Reading (search, browsing, single downloads)
needs no check beyond being signed in. The CLI calls the engine directly: whoever runs it can read the files anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Callable, Iterable, Mapping, Sequence

from revsearch import audit, clusters, dedupe, exclusions, export, labels, splits, uploads, workspace
from revsearch.auth.roles import Actor, Permission
from revsearch.auth.users import User, UserStore
from revsearch.collection import Collection
from revsearch.embed.embedder import Embedder
from revsearch.errors import RevsearchError
from revsearch.indexing import adding
from revsearch.jobs import Job, JobRunner
from revsearch.near_duplicates import DuplicateGroup
from revsearch.progress import Progress
from revsearch.workspace import CollectionInfo, Workspace

SEARCH, LABEL, DUPLICATES, AUDIT = Permission.SEARCH, Permission.LABEL, Permission.DUPLICATES, Permission.AUDIT
ADD, COLLECTIONS, EXPORT, USERS = (Permission.ADD_IMAGES, Permission.MANAGE_COLLECTIONS, Permission.EXPORT,
                                   Permission.MANAGE_USERS)


# ---------------------------------------------------------------------------------------------------- labelling


def label_images(actor: Actor, coll: Collection, refs: Iterable[labels.ImageRef], label: str) -> int:
    return labels.label_images(coll, refs, label, user=actor.require(LABEL))


def label_each(actor: Actor, coll: Collection, assignments: Mapping[labels.ImageRef, str]) -> int:
    return labels.label_each(coll, assignments, user=actor.require(LABEL))


def unlabel_images(actor: Actor, coll: Collection, refs: Iterable[labels.ImageRef]) -> int:
    return labels.unlabel_images(coll, refs, user=actor.require(LABEL))


def name_cluster(actor: Actor, coll: Collection, cluster_id: int, name: str | None) -> int:
    return labels.name_cluster(coll, cluster_id, name, user=actor.require(LABEL))


def merge_clusters(actor: Actor, coll: Collection, ids: Sequence[int], name: str | None) -> clusters.Cluster:
    return labels.merge_clusters(coll, ids, name=name, user=actor.require(LABEL))


def rename_label(actor: Actor, coll: Collection, old: str, new: str) -> int:
    return labels.rename_label(coll, old, new, user=actor.require(LABEL))


def accept_suggestions(actor: Actor, coll: Collection, threshold: float,
                       suggestions: Sequence[labels.Suggestion] | None = None) -> int:
    return labels.accept_suggestions(coll, threshold, suggestions=suggestions, user=actor.require(LABEL))


def import_folders(actor: Actor, coll: Collection) -> labels.ImportReport:
    return labels.import_folders(coll, user=actor.require(LABEL))


def decline(actor: Actor, coll: Collection, key: str) -> None:
    """Remember a "No" to a labelling question of the app (the collection metadata `key`)."""
    actor.require(LABEL)
    coll.set_meta({key: "1"})


def last_action(actor: Actor, coll: Collection) -> labels.Action | None:
    """What the actor's Undo would undo: their own newest action."""
    return labels.last_action(coll, user=actor.name)


def undo(actor: Actor, coll: Collection, action_id: int) -> labels.UndoReport:
    """Undo an action: one's own, or (an admin) anyone's."""
    return labels.undo(coll, action_id, user=actor.require(LABEL), others=actor.may(Permission.UNDO_OTHERS))


# ---------------------------------------------------------------------------------------------------- duplicates


def not_a_duplicate(actor: Actor, coll: Collection, image_id: int, group: DuplicateGroup) -> int:
    actor.require(DUPLICATES)
    return dedupe.not_a_duplicate(coll, image_id, group)


def move_redundant(actor: Actor, coll: Collection, groups: Sequence[DuplicateGroup], folder: str) -> dedupe.MoveRecord:
    """Move the redundant copies into `folder`, which must lie inside the allowed folders."""
    actor.require(DUPLICATES)
    return dedupe.move_redundant(coll, groups, _server_folder(actor, folder))


def undo_move(actor: Actor, coll: Collection, record: dedupe.MoveRecord) -> tuple[int, list[tuple[str, str]]]:
    return dedupe.undo_move(coll, record, user=actor.require(DUPLICATES))


# ---------------------------------------------------------------------------------------------------- audits


def confirm_labels(actor: Actor, coll: Collection, ids: Sequence[int]) -> int:
    actor.require(AUDIT)
    return audit.confirm(coll, ids)


def unconfirm_labels(actor: Actor, coll: Collection, ids: Sequence[int]) -> dict[int, str]:
    actor.require(AUDIT)
    return audit.unconfirm(coll, ids)


def exclude(actor: Actor, coll: Collection, ids: Sequence[int], reason: str) -> int:
    """Leave images an audit reported out of every export (they stay in the collection)."""
    actor.require(AUDIT)
    return exclusions.exclude(coll, ids, reason)


def undo_exclusion(actor: Actor, coll: Collection, action_id: int) -> exclusions.UndoReport:
    actor.require(AUDIT)
    return exclusions.undo(coll, action_id)


def overlap(actor: Actor, ws: Workspace, coll: Collection, other_slug: str | None, folder: str,
            embedder: Callable[[], Embedder], progress: Progress | None = None) -> list[audit.Overlap]:
    """Outside images that copy the collection's: another collection of the workspace (`other_slug`), or a folder of
    the server, which must lie inside the allowed folders."""
    actor.require(AUDIT)
    if other_slug:
        where = ws.info(other_slug).directory
    else:
        confined = _server_folder(actor, folder)
        where = ws.local_folder(confined)
    return audit.against(coll, where, embedder, progress=progress)


# ---------------------------------------------------------------------------------------------------- collections


def save_uploads(actor: Actor, ws: Workspace, info: CollectionInfo,
                 files: Iterable[uploads.Upload]) -> uploads.SavedUploads:
    """Save uploads into the collection's files/ folder, each within the upload limit an admin set."""
    actor.require(ADD)
    return uploads.save_uploads(info.files_dir, files, max_file_bytes=int(ws.upload_limit_mb() * 2**20))


def add_images(actor: Actor, coll: Collection, paths: Sequence[Path], embedder: Embedder,
               phases: adding.Phases | None = None) -> adding.Added:
    actor.require(ADD)
    return adding.add_images(coll, paths, embedder, phases)


def add_local_folder(actor: Actor, ws: Workspace, slug: str, folder: str, embedder: Embedder,
                     phases: adding.Phases | None = None) -> adding.Added:
    """Index a folder of the server in place: inside the allowed folders, and without the links in it that lead
    out of them."""
    actor.require(ADD)
    return workspace.add_local_folder(ws, slug, _server_folder(actor, folder), embedder, phases,
                                      keep=actor.roots.contains if actor.roots.confined else None)


def prune_missing(actor: Actor, coll: Collection) -> int:
    actor.require(COLLECTIONS)
    return adding.prune_missing(coll)


def create_collection(actor: Actor, ws: Workspace, name: str, embedder: Embedder) -> CollectionInfo:
    actor.require(COLLECTIONS)
    return ws.create(name, embedder)


def delete_collection(actor: Actor, ws: Workspace, slug: str, forget: Callable[[], None]) -> None:
    """Delete a collection (after `forget` drops the app's open handles on it)."""
    actor.require(COLLECTIONS)
    forget()
    ws.delete(slug)


def build_demo(actor: Actor, ws: Workspace, embedder: Embedder,
               phases: adding.Phases | None = None) -> tuple[CollectionInfo, adding.Added]:
    actor.require(COLLECTIONS)
    return workspace.build_demo(ws, embedder, phases)


def _server_folder(actor: Actor, folder: str) -> Path:
    if not actor.roots.folders_allowed:
        raise RevsearchError("folders of the server cannot be used here: this revsearch is shared and no allowed "
                             "folders are set (an admin sets REVSEARCH_ROOTS); add images by upload")
    return actor.roots.confine(folder)


# ---------------------------------------------------------------------------------------------------- export


def export_zip(actor: Actor, coll: Collection, unlabelled: str, audit: Mapping[str, object] | None = None) -> bytes:
    actor.require(EXPORT)
    return export.export_zip(coll, unlabelled=unlabelled, audit=audit)[0]


def export_table(actor: Actor, coll: Collection, fmt: str, out: IO[str],
                 include_unlabelled: bool, audit: Mapping[str, object] | None = None) -> export.ExportReport:
    """The labels as CSV or JSON into the text stream `out`."""
    actor.require(EXPORT)
    write = {"csv": export.export_csv, "json": export.export_json}[fmt]
    return write(coll, out, include_unlabelled=include_unlabelled, audit=audit)


def make_split(actor: Actor, coll: Collection, ratios: Sequence[float], seed: int, resplit: bool,
               progress: Progress | None = None) -> splits.SplitReport:
    """The train / val / test split exports follow (part of exporting)."""
    actor.require(EXPORT)
    return splits.make_split(coll, ratios, seed, resplit=resplit, progress=progress)


def dataset_card(actor: Actor, coll: Collection, include_unlabelled: bool,
                 audit: Mapping[str, object] | None = None) -> dict:
    actor.require(EXPORT)
    return export.dataset_card(coll, include_unlabelled=include_unlabelled, audit=audit)


# ---------------------------------------------------------------------------------------------------- users


def add_user(actor: Actor, store: UserStore, name: str, role: str, password: str) -> User:
    actor.require(USERS)
    return store.add(name, role, password)


def set_role(actor: Actor, store: UserStore, name: str, role: str) -> User:
    actor.require(USERS)
    return store.set_role(name, role)


def set_password(actor: Actor, store: UserStore, name: str, password: str) -> User:
    actor.require(USERS)
    return store.set_password(name, password)


def remove_user(actor: Actor, store: UserStore, name: str) -> None:
    actor.require(USERS)
    user = store.get(name)
    if user is not None and user.name == actor.name:
        raise RevsearchError("you cannot remove yourself: another admin can")
    store.remove(name)


def set_upload_limit(actor: Actor, ws: Workspace, mb: float) -> None:
    actor.require(USERS)
    ws.set_upload_limit_mb(mb)


# ---------------------------------------------------------------------------------------------------- background jobs

JOB_NEEDS = {"index": ADD, "learn": SEARCH, "recluster": LABEL, "suggest_k": LABEL, "duplicates": DUPLICATES,
             "map": SEARCH, "folders": SEARCH}  # computing what the pages show is reading; a forced retrain is labelling


def start_job(actor: Actor, runner: JobRunner, directory: Path | str, kind: str, params: dict | None = None,
              again: bool = False, delay: float = 0.0) -> Job:
    """Start a background job as `actor`: the role is checked now (the job runs later, on the server's thread), and
    a server folder to index is confined here, with the allowed folders kept in the job's parameters so that the
    job leaves out links that lead out of them (also when it is resumed after a restart)."""
    return runner.submit(directory, kind, _job_params(actor, kind, dict(params or {})), again=again, delay=delay)


def resume_job(actor: Actor, runner: JobRunner, job_id: str) -> Job:
    """Run an interrupted job again, checked as if `actor` started it now (the allowed folders of now, not of then)."""
    return runner.resume(job_id, lambda kind, params: _job_params(actor, kind, params))


def dismiss_job(actor: Actor, runner: JobRunner, job_id: str) -> None:
    """Forget an ended or interrupted job: whoever may start its kind may."""
    job = runner.jobs.get(job_id)
    if job is not None:
        actor.require(JOB_NEEDS.get(job.kind, ADD))
        runner.dismiss(job_id)


def _job_params(actor: Actor, kind: str, params: dict) -> dict:
    actor.require(LABEL if kind == "learn" and params.get("force") else JOB_NEEDS.get(kind, ADD))
    if kind == "index" and "folder" in params:
        # confined first, then checked: a path outside the allowed folders says nothing about what exists there
        params["folder"] = str(Workspace(params["root"]).local_folder(_server_folder(actor, str(params["folder"]))))
        params.pop("allowed", None)
        if actor.roots.confined:
            params["allowed"] = [str(p) for p in actor.roots.paths]
    return params
