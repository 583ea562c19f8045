"""Duplicates page actions: comparing a large collection in the background, "not a duplicate", the redundant copies
as CSV, moving them to a folder, and undo.

The work is done by revsearch/near_duplicates.py and revsearch/dedupe.py; the comparison of a large collection is a
job of the server's runner (ui/jobs.py); this module draws the buttons and forms and says what happened.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from revsearch import dedupe, near_duplicates
from revsearch.auth import guarded
from revsearch.near_duplicates import DuplicateGroup
from revsearch.workspace import CollectionInfo
from ui import access, jobs, state
from ui.access import Permission


def scan_in_background(info: CollectionInfo, threshold: float, n_indexed: int) -> None:
    """Unless the kept comparison answers `threshold`: the running comparison's progress (a "duplicates" job: the
    page follows it and shows the groups when it ends), or a button that starts one; then stop the page."""
    coll = state.collection(info)
    if near_duplicates.scanned(coll, threshold):
        return
    if jobs.running(info, "duplicates"):
        jobs.progress(info, "duplicates")
        st.caption("Comparing runs in the background: you can use the other pages meanwhile.")
        st.stop()
    jobs.failed(jobs.latest(info, "duplicates"))
    st.info(f"Comparing all {n_indexed:,} images with each other takes a few minutes. It runs in the background (you "
            "can use the other pages meanwhile) and its result is kept in the collection until images are added or "
            "removed.", icon=":material/schedule:")
    if access.can(Permission.DUPLICATES) and st.button("Find duplicates", type="primary",
                                                       icon=":material/content_copy:", key="dup_start"):
        with state.guard("Comparing the images"):
            jobs.start(info, "duplicates", {"threshold": threshold})
            st.rerun()
    st.stop()


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
