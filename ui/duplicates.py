"""Duplicates page actions: comparing a large collection in the background, "not a duplicate", the redundant copies
as CSV, moving them to a folder, and undo.

The work is done by revsearch/near_duplicates.py and revsearch/dedupe.py; this module only runs the comparison in a
thread, draws the buttons and forms and says what happened.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from revsearch import dedupe, near_duplicates
from revsearch.auth import guarded
from revsearch.collection import Collection
from revsearch.near_duplicates import DuplicateGroup
from revsearch.workspace import CollectionInfo
from ui import access, state
from ui.access import Permission

log = logging.getLogger("revsearch.app")
SCAN_THREAD = "duplicates scan "  # + collection directory: the name of a background comparison's thread


@dataclass
class Scans:
    """Background comparisons, one at most per collection directory, with their progress and last error. The result
    is kept in the collection (near_duplicates.similar_pairs), so it outlives this server."""

    guard: threading.Lock = field(default_factory=threading.Lock)
    threads: dict[str, threading.Thread] = field(default_factory=dict)
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def running(self, directory: str) -> bool:
        with self.guard:
            thread = self.threads.get(directory)
            return thread is not None and thread.is_alive()

    def start(self, directory: str, threshold: float) -> None:
        with self.guard:
            thread = self.threads.get(directory)
            if thread is not None and thread.is_alive():
                return
            self.progress[directory] = (0, 0)
            self.errors.pop(directory, None)
            thread = threading.Thread(target=self._run, args=(directory, threshold), name=SCAN_THREAD + directory,
                                      daemon=True)
            self.threads[directory] = thread
        thread.start()

    def _run(self, directory: str, threshold: float) -> None:
        def progress(done: int, total: int, _message: str) -> None:
            self.progress[directory] = (done, total)

        try:
            with Collection.open(directory) as coll:
                near_duplicates.similar_pairs(coll, threshold, progress)
        except Exception as exc:  # noqa: BLE001 - shown on the page, never a crash of the server
            log.exception("comparing %s failed", directory)
            self.errors[directory] = f"{type(exc).__name__}: {exc}"


@st.cache_resource(show_spinner=False)
def scans() -> Scans:
    return Scans()


def scan_in_background(info: CollectionInfo, threshold: float, n_indexed: int) -> None:
    """Unless the kept comparison answers `threshold`: the running comparison's progress (the page follows it and
    reruns when it ends), or a button that starts one; then stop the page."""
    coll = state.collection(info)
    if near_duplicates.scanned(coll, threshold):
        return
    directory, running = str(coll.directory), scans()
    if running.running(directory):
        _follow(directory)
        st.stop()
    if directory in running.errors:
        st.error(f"Comparing the images failed: {running.errors[directory]}", icon=":material/error:")
    st.info(f"Comparing all {n_indexed:,} images with each other takes a few minutes. It runs in the background (you "
            "can use the other pages meanwhile) and its result is kept in the collection until images are added or "
            "removed.", icon=":material/schedule:")
    if access.can(Permission.DUPLICATES) and st.button("Find duplicates", type="primary",
                                                       icon=":material/content_copy:", key="dup_start"):
        with state.guard("Comparing the images"):
            access.actor().require(Permission.DUPLICATES)
            running.start(directory, threshold)
            st.rerun()
    st.stop()


@st.fragment(run_every=2.0)
def _follow(directory: str) -> None:
    running = scans()
    if not running.running(directory):
        st.rerun()  # done: the whole page shows the groups (or the error)
    done, total = running.progress.get(directory, (0, 0))
    st.progress(done / total if total else 0.0,
                text=f"Comparing images in the background… {done:,} of {total:,}" if total else "Comparing images…")


def marks_version(info: CollectionInfo) -> int:
    """How many pairs are marked "not a duplicate" (the cached groups are recomputed when it moves)."""
    return near_duplicates.dismissed_pairs(state.collection(info))


def not_duplicate_button(info: CollectionInfo, image_id: int, group: DuplicateGroup) -> None:
    if not access.can(Permission.DUPLICATES):
        return
    if st.button("Not a duplicate", key=f"not_dup_{group.id}_{image_id}", icon=":material/call_split:",
                 type="tertiary", help="remembered in this collection: this image is not grouped with these again"):
        with state.guard("Marking it"):
            guarded.not_a_duplicate(access.actor(), state.collection(info), image_id, group)
            state.flash(f"{Path(next(m.path for m in group.members if m.id == image_id)).name} is no longer shown as "
                        "a duplicate of this group")
            st.rerun()


def actions(info: CollectionInfo, groups: list[DuplicateGroup]) -> None:
    """Download the redundant copies' list; move them to a folder the person chooses (inside the allowed folders)."""
    if not access.can(Permission.DUPLICATES):
        return
    copies = dedupe.redundant(groups)
    roots = access.actor().roots
    left, right = st.columns([1, 2], vertical_alignment="top")
    left.download_button(f"Redundant copies ({len(copies)}) as CSV", dedupe.redundant_csv(groups).encode("utf-8"),
                         file_name=f"{info.slug}-redundant-copies.csv", mime="text/csv", icon=":material/table:",
                         on_click="ignore", key="dup_csv",
                         help="every image but the anchor of each group, with the copy to keep beside it")
    if not roots.folders_allowed:
        right.caption("Moving copies to a folder of the server needs allowed folders (an admin sets "
                      "REVSEARCH_ROOTS); the CSV lists them.")
        return
    with right.popover(f"Move the {len(copies)} redundant copies to a folder…", icon=":material/drive_file_move:"):
        st.caption("The anchor of each group stays where it is; the other copies are moved (never deleted, never "
                   "overwriting anything) into the folder you give, and leave this collection. **Undo** moves them "
                   "back." + (f" Allowed folders: {roots.describe()}." if roots.confined else ""))
        with st.form("dup_move", border=False):
            folder = st.text_input("Folder on this computer", key="dup_move_folder",
                                   placeholder=str(roots.paths[0] / "duplicates") if roots.paths
                                   else "/home/me/Pictures/duplicates")
            go = st.form_submit_button(f"Move {len(copies)} copies", type="primary")
        if go:
            with state.guard("Moving the copies"):
                record = guarded.move_redundant(access.actor(), state.collection(info), groups, folder.strip())
                note = f"; {len(record.failed)} could not be moved" if record.failed else ""
                state.flash(f"Moved {record.moved} redundant copies to {record.destination}{note}")
                st.rerun()


def undo_last_move(info: CollectionInfo) -> None:
    """An "Undo" for the latest move, while there is one."""
    with state.guard("Reading the last move"):
        record = dedupe.last_move(state.collection(info))
        if record is None:
            return
        box = st.container(border=True)
        row = box.columns([5, 1], vertical_alignment="center")
        row[0].markdown(f":material/drive_file_move: **{record.moved}** redundant copies were moved to "
                        f"`{record.destination}`.")
        if record.failed:
            row[0].caption("Not moved: " + ", ".join(f"{Path(p).name} ({why})" for p, why in record.failed[:5]))
        if access.can(Permission.DUPLICATES) and row[1].button("Undo", icon=":material/undo:", key="dup_undo",
                                                               width="stretch"):
            restored, problems = guarded.undo_move(access.actor(), state.collection(info), record)
            state.flash(f"Moved {restored} copies back into the collection")
            for path, why in problems:
                state.flash(f"Not moved back: {Path(path).name} ({why})")
            st.rerun()
