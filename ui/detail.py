"""The detail view of one image of a collection, as a dialog opened from any grid, cluster, duplicate or map point.

It shows the picture large with everything known about it (full path, folder, file size, dimensions, label, cluster,
score) and offers: download the original, more like this, label it, and search with a region of it.

Other pages open it with `open_detail(info, image_id, score)` during their script run (e.g. when their button was
clicked). Widgets inside the dialog rerun only the dialog; actions that change the page (a search) rerun the app.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import streamlit as st
from PIL import Image

from revsearch import attribution, images
from revsearch.auth import guarded
from revsearch.workspace import CollectionInfo
from ui import access, crop, display, labelling, maps, queries, state, undo
from ui.access import Permission

LARGE = 1024  # longest side of the picture shown in the dialog
EXACT_BADGE = "In your collection"
OPEN = "detail_open"  # session_state key: the key of the Details button whose dialog is open


@st.cache_data(show_spinner=False, max_entries=32)
def _display(path: str, content_hash: str | None) -> bytes | None:
    """A large JPEG of an original for the dialog; cached per content, so reopening is instant."""
    data = images.thumbnail_bytes(path, LARGE)
    return None if isinstance(data, images.Skip) else data


def human_size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def open_detail(info: CollectionInfo, image_id: int, score: float | None = None, exact: bool = False) -> None:
    """Open the detail dialog of `image_id` (call it during a script run, e.g. when a button was clicked)."""
    _dialog(info, int(image_id), score, exact)


def detail_button(info: CollectionInfo, image_id: int, key: str, score: float | None = None,
                  exact: bool = False, label: str = "Details") -> None:
    """A small button that opens the dialog; it stays open across reruns of the page until it is closed."""
    if st.button(label, key=key, icon=":material/open_in_full:", type="tertiary",
                 help="larger picture, path, size, label; download, label or search with a region of it"):
        st.session_state[OPEN] = key
    if st.session_state.get(OPEN) == key:
        open_detail(info, image_id, score, exact)


def _closed() -> None:
    st.session_state.pop(OPEN, None)


@st.dialog("Image details", width="large", on_dismiss=_closed)
def _dialog(info: CollectionInfo, image_id: int, score: float | None, exact: bool) -> None:
    coll = state.collection(info)
    row = coll.get(image_id)
    if row is None:
        st.warning("This image is no longer in the collection.")
        return
    path = Path(row.path)
    cluster_of, label_of = labelling.image_facts(info, [image_id])
    names = maps.cluster_names(info)
    picture, facts = st.columns([3, 2], gap="medium")
    with picture:
        data = _display(row.path, row.hash)
        if data:
            st.image(data, width="stretch")
        else:
            st.warning("The original cannot be read right now (moved, or on a disconnected drive).")
    with facts:
        st.markdown(f"#### {display.md_escape(path.name)}")
        if exact:
            st.badge(EXACT_BADGE, icon=":material/verified:", color="green",
                     help="the same picture as your query: same file content, or a similarity of 1.000")
        if score is not None:
            st.markdown(f"Similarity **{score:.3f}**")
        st.caption("Full path")
        st.code(str(path), language=None, wrap_lines=True)
        dims = f"{row.width} × {row.height} px" if row.width and row.height else "unknown"
        cluster = cluster_of.get(image_id)
        st.markdown(f"**Folder** {display.md_escape(str(path.parent))}  \n**File size** {human_size(row.size)}  \n"
                    f"**Dimensions** {dims}  \n**Label** "
                    + (display.md_escape(label_of[image_id]) if image_id in label_of else "none") + "  \n**Cluster** "
                    + (display.md_escape(names.get(cluster, f"cluster {cluster}")) if cluster is not None else "none"))
        _history(info, image_id)
        if path.is_file():
            st.download_button("Download the original", lambda: path.read_bytes(), file_name=path.name,
                               icon=":material/download:", on_click="ignore", key="detail_download")
        if st.button("More like this", key="detail_more", icon=":material/search:", type="primary"):
            queries.more_like_this(image_id, path.name)
            _closed()
            st.switch_page("app_pages/search.py")
    if access.can(Permission.LABEL):
        _label_form(info, image_id, label_of.get(image_id))
    _region(info, row, data)


def _history(info: CollectionInfo, image_id: int) -> None:
    """Who gave this image its labels, newest first (two people's labels both stay here; the later counts)."""
    changes = attribution.image_history(state.collection(info), image_id, limit=6)
    if changes:
        st.caption("Label history  \n" + "  \n".join(
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(c.at))} · **{display.md_escape(c.user or '?')}**: "
            f"{display.md_escape(c.old or '—')} → {display.md_escape(c.new or '—')}" for c in changes))


def _label_form(info: CollectionInfo, image_id: int, current: str | None) -> None:
    with st.form("detail_label", border=False):
        row = st.columns([4, 1], vertical_alignment="bottom")
        with row[0]:
            label = labelling.label_picker(info, key="detail_label_name", help=f"now: {current}" if current else None)
        if row[1].form_submit_button("Label it", icon=":material/label:", width="stretch"):
            with state.guard("Labelling"):
                if not label:
                    st.warning("Type or pick a label first.")
                else:
                    guarded.label_images(access.actor(), state.collection(info), [image_id], label)
                    state.flash(f"Labelled “{label}”")
                    st.rerun()  # the whole page: its grids show the new label; the dialog stays open
    if undo.undo_button(state.collection(info), key="undo_detail"):
        st.rerun()  # the whole page, as after labelling


def _region(info: CollectionInfo, row, data: bytes | None) -> None:
    """Search with a region of this image: draw it (or type it), then a search from the Search page."""
    if not data or not row.width or not row.height:
        return
    panel = st.expander("Search with a region of this image", icon=":material/crop:", key=f"detail_region_{row.id}",
                        on_change="rerun")  # keyed: stays open while the region is drawn; drawn only when open
    if not panel.open:
        return
    with panel:
        box = crop.region_picker(Image.open(io.BytesIO(data)), (row.width, row.height), key=f"detail_crop_{row.id}")
        if st.button("Search with this region", key="detail_region_search", icon=":material/crop:", type="primary"):
            queries.search_region(row.id, Path(row.path).name, box)
            _closed()
            st.switch_page("app_pages/search.py")
