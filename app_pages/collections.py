"""Collections: add images (folder upload, files / .zip, server folder), create, switch, delete.

Adding images is an "index" job of the server's runner (ui/jobs.py): the page saves the uploads (or checks the
folder path), starts the job and follows it; leaving the page does not stop it, and the sidebar of every page shows
its progress. The status at the top is the collection's newest indexing job (running, its summary, or its error),
or a mistake in what was just submitted: one status, never an old one beside a new one.
"""

from __future__ import annotations

import time

import streamlit as st

from revsearch.auth import guarded
from revsearch.errors import RevsearchError
from revsearch.jobs import DONE, INTERRUPTED
from revsearch.workspace import demo_source
from ui import access, display, jobs, state, widgets
from ui.access import Permission
from ui.progress_text import index_summary, job_outcome

ws = state.workspace()
infos = state.collections()
info = state.current(infos)
st.session_state.setdefault("upload_round", 0)  # bumped after each upload so the uploaders start empty
MISTAKE = "index_mistake"  # session_state: (slug, when, message) of the last refused submission
can_manage = access.can(Permission.MANAGE_COLLECTIONS)
limit_mb = max(1, int(ws.upload_limit_mb()))  # the browser refuses bigger files; the server checks again

st.title("Collections")


def index_uploads(files: list) -> None:
    """Save uploads into the collection's storage (they live in this session's memory), then index them in a
    job."""
    with st.spinner(f"Saving {len(files)} file{'s' if len(files) != 1 else ''}…"):
        saved = guarded.save_uploads(access.actor(), ws, info, files)
    jobs.start(info, "index", {"files": [str(p) for p in saved.paths],
                               "rejected": [list(r) for r in saved.rejected]})
    st.session_state["upload_round"] += 1
    st.session_state.pop(MISTAKE, None)
    st.rerun()


def index_folder(path: str) -> None:
    """Check the folder now (a mistake is said at once), then index it in place in a job."""
    try:
        jobs.start(info, "index", {"root": str(ws.root), "slug": info.slug, "folder": path})
    except RevsearchError as exc:  # not a folder, outside the allowed folders, not allowed to add…
        st.session_state[MISTAKE] = (info.slug, time.time(), f"**Indexing the folder did not work.** {exc}")
        st.rerun()
    st.session_state.pop(MISTAKE, None)
    st.rerun()


def index_status() -> None:
    """The newest indexing job of the collection (live while it runs), or the mistake made after it."""
    job = jobs.latest(info, "index")
    mistake = st.session_state.get(MISTAKE)
    if mistake and mistake[0] == info.slug and (job is None or mistake[1] > job.started_at):
        st.error(mistake[2], icon=":material/error:")
        return
    if job is None:
        return
    if job.running:
        jobs.progress(info, "index")
        st.caption("Indexing runs in the background: you can use the other pages meanwhile (the sidebar shows how "
                   "far it is).")
    elif job.state == INTERRUPTED:
        st.warning(f"{job_outcome(job)}. Resume it from the sidebar: it picks up after the last images it saved.",
                   icon=":material/warning:")
    elif job.state == DONE and job.result:
        widgets.index_summary(index_summary(job.result))
    else:
        jobs.failed(job)


if info is None:
    st.info("There is no collection yet. Create one below, then add images to it." if can_manage
            else "There is no collection yet: an admin can create one.")
elif access.can(Permission.ADD_IMAGES):
    st.subheader(f"Add images to “{info.name}”")
    counts = info.counts
    st.caption(f"{counts.get('indexed', 0)} images indexed · model {state.model_title(info.model)} · stored in "
               f"`{info.directory}`")
    status = st.container()
    busy = jobs.running(info, "index") is not None
    if busy:
        st.caption("One indexing run at a time: adding more is possible when this one ends.")
    if counts.get("missing"):
        st.caption(f"{counts['missing']} images are missing: their files were not found at the last sync (an "
                   "unplugged drive, a moved folder?). They keep their labels and come back when found again.")
        if can_manage and st.button(f"Remove {counts['missing']} missing images for good",
                                    icon=":material/delete_sweep:", key="prune_missing", disabled=busy):
            with state.guard("Removing missing images"), ws.open(info.slug) as coll:
                state.flash(f"Removed {guarded.prune_missing(access.actor(), coll)} missing images.")
                st.rerun()

    round_ = st.session_state["upload_round"]
    roots = access.actor().roots  # a shared server without allowed folders takes uploads only
    folder_tab, files_tab, *path_tab = st.tabs([":material/folder_open: Upload a folder",
                                                ":material/upload_file: Upload files or a .zip",
                                                *([":material/dns: Folder on this machine"] if roots.folders_allowed
                                                  else [])], key="add_images_tab", on_change="rerun")
    if folder_tab.open:
        with folder_tab:
            folder = st.file_uploader("Choose a folder: every image in it and its subfolders is added",
                                      accept_multiple_files="directory", key=f"folder_upload_{round_}",
                                      max_upload_size=limit_mb)
            if folder and st.button(f"Add {len(folder)} files from the folder", type="primary",
                                    key="add_folder_upload", disabled=busy):
                with state.guard("Adding the folder"):
                    index_uploads(folder)
    if files_tab.open:
        with files_tab:
            files = st.file_uploader("Choose images, or a .zip of a folder of images", accept_multiple_files=True,
                                     key=f"files_upload_{round_}", max_upload_size=limit_mb)
            if files and st.button(f"Add {len(files)} file{'s' if len(files) != 1 else ''}", type="primary",
                                   key="add_files_upload", disabled=busy):
                with state.guard("Adding the files"):
                    index_uploads(files)
    if path_tab and path_tab[0].open:
        with path_tab[0]:
            st.caption("For large collections already on this computer: the folder is indexed where it is (nothing "
                       "is copied). Indexing it again later picks up new, changed and deleted files."
                       + (f" Allowed folders: {roots.describe()}." if roots.confined else ""))
            with st.form("server_folder"):
                path = st.text_input("Folder path",
                                     placeholder=str(roots.paths[0]) if roots.paths else "/home/me/Pictures")
                go = st.form_submit_button("Index this folder", type="primary", disabled=busy)
            if go:
                index_folder(path)
            if info.sources:
                st.caption("Folders indexed in place: " + ", ".join(f"`{s}`" for s in info.sources))
    with status:
        index_status()

st.divider()
st.subheader("All collections")
for c in infos:
    with st.container(border=True):
        row = st.columns([6, 1.2, 1.4], vertical_alignment="center")
        in_use = info is not None and c.slug == info.slug
        extra = " · **in use**" if in_use else ""
        held = (f":orange[:material/hourglass_top: being indexed now]: {c.counts.get('indexed', 0)} images so far"
                if c.indexing else f"{c.counts.get('indexed', 0)} images")
        working = c.indexing or bool(jobs.runner().running(c.directory))
        row[0].markdown(f"**{display.md_escape(c.name)}**{extra}  \n{held} · "
                        f"{state.model_title(c.model)}" + (" · demo" if c.demo else ""))
        if row[1].button("Use", key=f"use_{c.slug}", disabled=in_use, width="stretch"):
            state.select(c.slug)
            st.rerun()
        if can_manage:
            with row[2].popover("Delete", icon=":material/delete:", width="stretch", disabled=working,
                                help="It is being indexed or a background job runs on it: it can be deleted when the "
                                     "run ends" if working else None):
                st.write(f"Delete **{display.md_escape(c.name)}**? Its index and uploaded copies are removed; "
                         "folders indexed in place are not touched.")
                if st.button("Yes, delete it", type="primary", key=f"delete_{c.slug}"):
                    with state.guard("Deleting the collection"):
                        guarded.delete_collection(access.actor(), ws, c.slug, state.forget_collection_handles)
                        if in_use:
                            state.select(None)
                        state.flash(f"Deleted “{c.name}”.")
                        st.rerun()


if not can_manage:
    st.stop()  # creating collections is for admins
left, right = st.columns([3, 2], gap="large", vertical_alignment="top")
with left:
    model, why = state.model_for_new_collections()
    with st.form("new_collection", clear_on_submit=True):
        st.markdown("**New collection**")
        name = st.text_input("Name", placeholder="e.g. Holiday photos 2024", max_chars=80)
        create = st.form_submit_button("Create", type="primary", icon=":material/add:")
    if create:
        with state.guard("Creating the collection"):
            created = guarded.create_collection(access.actor(), ws, name, state.embedder(model))
            state.select(created.slug)
            state.flash(f"Created “{created.name}”: add images to it above.")
            st.rerun()
with right:
    st.caption(f"New collections use **{state.model_title(model)}**. Collections are stored in `{ws.root}` "
               "(set `REVSEARCH_DATA` to use another folder).")
    if demo_source() is not None and not any(c.demo for c in infos):
        if st.button("Rebuild the demo collection", icon=":material/restart_alt:"):
            with state.guard("Building the demo collection"):
                widgets.build_demo(access.actor())
