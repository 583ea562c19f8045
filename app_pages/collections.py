"""Collections: add images (folder upload, files / .zip, server folder), create, switch, delete."""

from __future__ import annotations

import streamlit as st

from revsearch.auth import guarded
from revsearch.workspace import demo_source
from ui import access, display, state, widgets
from ui.access import Permission

ws = state.workspace()
infos = state.collections()
info = state.current(infos)
st.session_state.setdefault("upload_round", 0)  # bumped after each upload so the uploaders start empty
can_manage = access.can(Permission.MANAGE_COLLECTIONS)
limit_mb = max(1, int(ws.upload_limit_mb()))  # the browser refuses bigger files; the server checks again

st.title("Collections")


def after_indexing(summary: dict) -> None:
    st.session_state["index_summary"] = (info.slug, summary)  # shown until the next run of adding images
    st.session_state["upload_round"] += 1
    st.rerun()


def index_uploads(files: list) -> None:
    """Save uploads into the collection's storage, then add them (embed, then prepare the pages), with progress."""
    run = widgets.AddingRun("Adding", existing=info.counts.get("indexed", 0))  # the clock starts at the click
    with st.status(f"Adding {len(files)} file{'s' if len(files) != 1 else ''} to {info.name}…",
                   expanded=True) as status:
        st.write("Saving the uploads…")
        saved = guarded.save_uploads(access.actor(), ws, info, files)
        embedder = run.load_model(info.model)
        with ws.open(info.slug) as coll:
            added = guarded.add_images(access.actor(), coll, saved.paths, embedder, run.phases)
        status.update(label="Done", state="complete")
    after_indexing(run.summary(added.report, saved.rejected))


if info is None:
    st.info("There is no collection yet. Create one below, then add images to it." if can_manage
            else "There is no collection yet: an admin can create one.")
elif access.can(Permission.ADD_IMAGES):
    st.subheader(f"Add images to “{info.name}”")
    counts = info.counts
    st.caption(f"{counts.get('indexed', 0)} images indexed · model {state.model_title(info.model)} · stored in "
               f"`{info.directory}`")
    last = st.session_state.get("index_summary")
    if last and last[0] == info.slug:
        widgets.index_summary(last[1])
    if counts.get("missing"):
        st.caption(f"{counts['missing']} images are missing: their files were not found at the last sync (an "
                   "unplugged drive, a moved folder?). They keep their labels and come back when found again.")
        if can_manage and st.button(f"Remove {counts['missing']} missing images for good",
                                    icon=":material/delete_sweep:", key="prune_missing"):
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
                                    key="add_folder_upload"):
                with state.guard("Adding the folder"):
                    index_uploads(folder)
    if files_tab.open:
        with files_tab:
            files = st.file_uploader("Choose images, or a .zip of a folder of images", accept_multiple_files=True,
                                     key=f"files_upload_{round_}", max_upload_size=limit_mb)
            if files and st.button(f"Add {len(files)} file{'s' if len(files) != 1 else ''}", type="primary",
                                   key="add_files_upload"):
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
                go = st.form_submit_button("Index this folder", type="primary")
            if go:
                with state.guard("Indexing the folder"):
                    run = widgets.AddingRun("Indexing", existing=info.counts.get("indexed", 0))
                    added = guarded.add_local_folder(access.actor(), ws, info.slug, path, run.load_model(info.model),
                                                     run.phases)
                    after_indexing(run.summary(added.report))
            if info.sources:
                st.caption("Folders indexed in place: " + ", ".join(f"`{s}`" for s in info.sources))

st.divider()
st.subheader("All collections")
for c in infos:
    with st.container(border=True):
        row = st.columns([6, 1.2, 1.4], vertical_alignment="center")
        in_use = info is not None and c.slug == info.slug
        extra = " · **in use**" if in_use else ""
        held = (f":orange[:material/hourglass_top: being indexed now]: {c.counts.get('indexed', 0)} images so far"
                if c.indexing else f"{c.counts.get('indexed', 0)} images")
        row[0].markdown(f"**{display.md_escape(c.name)}**{extra}  \n{held} · "
                        f"{state.model_title(c.model)}" + (" · demo" if c.demo else ""))
        if row[1].button("Use", key=f"use_{c.slug}", disabled=in_use, width="stretch"):
            state.select(c.slug)
            st.rerun()
        if can_manage:
            busy = "It is being indexed: it can be deleted when the run ends" if c.indexing else None
            with row[2].popover("Delete", icon=":material/delete:", width="stretch", disabled=c.indexing, help=busy):
                st.write(f"Delete **{display.md_escape(c.name)}**? Its index and uploaded copies are removed; folders "
                         "indexed in place are not touched.")
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
