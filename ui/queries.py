"""The query: what to search with (upload, camera, an image of the collection, a region of any), the active
query in the session, the cached search, and the query's header above the results."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import streamlit as st

from PIL import Image

from revsearch import images, regions, thumbnails
from revsearch.errors import RevsearchError
from revsearch.files import content_hash
from revsearch.search import Hit, Searcher
from revsearch.workspace import CollectionInfo
from ui import crop, feedback, learning, state
from ui.display import THUMB

QUERY = "query"  # session_state key: the active Query
QUERY_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif"]
EXACT_SCORE = 0.9999  # a result this similar to the query is the same picture


@dataclass(frozen=True)
class Query:
    """What to search with: image bytes (upload / camera) or an image of the collection ("more like this"), whole or
    a region of it (x, y, w, h in pixels of the original)."""

    kind: str  # "upload" | "camera" | "image"
    name: str
    data: bytes | None = None
    image_id: int | None = None
    crop: regions.Box | None = None

    @property
    def key(self) -> str:
        region = "" if self.crop is None else ":" + ",".join(str(v) for v in self.crop)
        if self.data is not None:
            return "b:" + hashlib.blake2b(self.data, digest_size=16).hexdigest() + region
        return f"i:{self.image_id}" + region


def _new_query(query: Query) -> None:
    """Make `query` the active one; an earlier upload leaves the uploader, so it is not shown beside the new query."""
    st.session_state[QUERY] = query
    st.session_state["search_goto"] = True
    st.session_state["query_upload_round"] = st.session_state.get("query_upload_round", 0) + 1


def more_like_this(image_id: int, name: str) -> None:
    """Button callback: search with an image of the collection (from any page)."""
    _new_query(Query("image", name, image_id=int(image_id)))


def search_region(image_id: int, name: str, box: regions.Box) -> None:
    """Search with a region of an image of the collection (from its detail view)."""
    _new_query(Query("image", f"region of {name}", image_id=int(image_id), crop=tuple(int(v) for v in box)))


def more_like_this_button(image_id: int, name: str, key: str, switch: bool = False) -> None:
    """A small "More like this" button; on other pages it also opens the Search page."""
    if st.button("More like this", key=key, icon=":material/search:", type="tertiary",
                 on_click=more_like_this, args=(image_id, name)):
        if switch:
            st.switch_page("app_pages/search.py")


def _picked(key: str, kind: str) -> None:
    """Uploader / camera callback: a new file is the query; removing it (a person's act) drops its query.

    Only a person's change calls this: the uploader comes back empty after a visit to another page (Streamlit forgets
    the widgets of a page left), and the query — kept in session_state — must survive that."""
    picked = st.session_state.get(key)
    if picked is None:
        if getattr(st.session_state.get(QUERY), "kind", None) == kind:
            st.session_state.pop(QUERY, None)
        return
    st.session_state[QUERY] = Query(kind, picked.name if kind == "upload" else "camera photo", data=picked.getvalue())


def query_picker(info: CollectionInfo) -> Query | None:
    """Upload / camera inputs; a new upload or photo becomes the active query. Returns the active query.

    The tabs are lazy: the camera starts (and the browser asks for permission) only when its tab is opened.
    """
    st.session_state.pop("search_goto", None)
    upload_tab, camera_tab = st.tabs([":material/upload: Upload an image", ":material/photo_camera: Camera"],
                                     key="query_source", on_change="rerun")
    if upload_tab.open:
        with upload_tab:
            key = f"query_upload_{st.session_state.get('query_upload_round', 0)}"
            st.file_uploader("Query image", type=QUERY_TYPES, label_visibility="collapsed", key=key,
                             on_change=_picked, args=(key, "upload"))
    if camera_tab.open:
        with camera_tab:
            st.camera_input("Take a photo to search with", key="query_camera", on_change=_picked,
                            args=("query_camera", "camera"))
    query = st.session_state.get(QUERY)
    if query is not None and query.kind == "image":
        coll = state.collection(info)
        if coll.get(query.image_id) is None:  # the image left the collection (or another collection is in use)
            st.session_state.pop(QUERY, None)
            return None
    return query


def feedback_source(info: CollectionInfo, query: Query) -> Callable[[], int | bytes | Image.Image]:
    """What thumbs feedback searches from besides the marked images: the query's image id, or its image."""
    if query.crop is None:
        return lambda: query.image_id if query.image_id is not None else query.data  # type: ignore[return-value]
    return lambda: query_image(info, query)


@st.cache_data(show_spinner="Searching…", max_entries=64)
def _search(directory: str, generation: int, space: str, query_key: str, k: int, _info: CollectionInfo,
            _query: Query) -> list[Hit]:
    coll = state.collection(_info)
    # no st.* inside a cached function: the model without its spinner ("Searching…" spins instead)
    searcher = Searcher(coll, state.loaded_embedder(coll.model))
    if _query.image_id is not None and _query.crop is None:
        return searcher.by_ids([_query.image_id], k=k)[0]
    return searcher.by_images([query_image(_info, _query, searcher.embedder.input_size)], k=k)[0]


def query_image(info: CollectionInfo, query: Query, size: int | None = None) -> Image.Image:
    """The query decoded (its region, when cropped); a file that is no readable image is a message for people."""
    if query.data is not None:
        source: bytes | str = query.data
    else:
        row = state.collection(info).get(query.image_id)
        if row is None:
            raise RevsearchError("That image is no longer in the collection.")
        source = row.path
    img = regions.query_image(source, query.crop, size)
    if isinstance(img, images.Skip):
        raise RevsearchError(f"That file isn't an image we can read ({img.reason}). Try a JPEG, PNG, WebP or HEIC "
                             "photo.")
    return img


def search(info: CollectionInfo, query: Query, k: int) -> list[Hit]:
    """Top-k hits; cached per (collection state, query, k), so reruns never re-embed the query."""
    coll = state.collection(info)
    return _search(str(info.directory), coll.generation, learning.space_token(coll), query.key, k, info, query)


def query_header(info: CollectionInfo, query: Query, shown: list[Hit], hits: list[Hit], min_score: float,
                 similarity: dict[int, float] | None = None) -> None:
    """The query image beside a one-line verdict (with feedback: the adjusted score and the plain similarity)."""
    left, right = st.columns([1, 5], vertical_alignment="center")
    with left:
        if query.crop is not None:
            st.image(_region_jpeg(str(info.directory), query.key, info, query), width=150)
        elif query.data is not None:
            st.image(query.data, width=150)
        else:
            data = thumbnails.thumbnail(state.collection(info), query.image_id, THUMB)
            if data:
                st.image(data, width=150)
    with right:
        st.caption(f"Query: {query.name}" + (" (from this collection)" if query.kind == "image" else ""))
        if shown:
            top = shown[0]
            st.markdown(f"#### Top match: {Path(top.path).name}")
            results = f"{len(shown)} result{'s' if len(shown) != 1 else ''}"
            if similarity is None:
                st.caption(f"similarity {top.score:.3f} · {results}")
            else:
                st.caption(f"{feedback.ADJUSTED} {top.score:.3f} (similarity {similarity.get(top.id, 0.0):.3f}) · "
                           f"{results}")
        elif hits:
            best = max(similarity.values()) if similarity else hits[0].score
            st.warning(f"No result reaches a similarity of {min_score:.2f}; the best is {best:.3f}. "
                       "Lower the minimum similarity in the sidebar.")
        else:
            st.warning("No results: the collection has no other indexed images.")
        st.button("Clear query", icon=":material/close:", type="tertiary", key="clear_query", on_click=_clear_query,
                  help="start again with another picture")


def _clear_query() -> None:
    st.session_state.pop(QUERY, None)
    st.session_state["query_upload_round"] = st.session_state.get("query_upload_round", 0) + 1  # empty uploader


@st.cache_data(show_spinner=False, max_entries=16)
def _region_jpeg(directory: str, query_key: str, _info: CollectionInfo, _query: Query) -> bytes:
    return images.thumbnail_bytes(_png(query_image(_info, _query)), THUMB)  # type: ignore[return-value]


@st.cache_data(show_spinner=False, max_entries=16)
def _whole(directory: str, query_key: str, _info: CollectionInfo, _query: Query) -> tuple[bytes, tuple[int, int]]:
    """A preview-sized PNG of the uncropped query and its full size, for the region picker."""
    img = query_image(_info, _query)
    size = img.size
    img.thumbnail((crop.PREVIEW, crop.PREVIEW))
    return _png(img), size


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def query_region(info: CollectionInfo, query: Query) -> Query:
    """"Search with a region": crop the query before searching (uploads, photos and collection images alike)."""
    whole = replace(query, crop=None)
    try:
        data, size = _whole(str(info.directory), whole.key, info, whole)
    except RevsearchError:
        return query  # the search itself says what is wrong with the file
    round_ = st.session_state.get("query_upload_round", 0)  # a new query starts with a fresh picker
    panel = st.expander("Search with a region of the query", icon=":material/crop:", expanded=query.crop is not None,
                        key="query_region_panel", on_change="rerun")  # keyed: it stays open across reruns
    box = query.crop
    if panel.open:
        with panel:
            box = crop.region_picker(Image.open(io.BytesIO(data)), size, key=f"crop_{round_}_{whole.key}",
                                     initial=query.crop)
    wanted = None if box is None or box == (0, 0, *size) else box
    if wanted != query.crop:
        query = replace(query, crop=wanted)
        st.session_state[QUERY] = query
    return query


def exact_ids(info: CollectionInfo, query: Query, hits: Sequence[Hit]) -> set[int]:
    """Results that are the query itself: the same file content, or a similarity of (almost exactly) 1."""
    same = {h.id for h in hits if h.score >= EXACT_SCORE}
    if query.data is not None and query.crop is None:
        wanted = content_hash(query.data)
        rows = state.collection(info).rows_by_id([h.id for h in hits])
        same |= {i for i, r in rows.items() if r.hash == wanted}
    return same
