"""Cached heavy objects (workspace, model, collection handles), the selected collection, and the error guard."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from revsearch import clusters
from revsearch.collection import Collection
from revsearch.embed import REGISTRY, default_model
from revsearch.embed.embedder import Embedder
from revsearch.errors import (CREATE_COLLECTION, MAKE_CLUSTERS, REPLACE_FILE, USE_INPUT, USE_MODEL, USE_PRECISION,
                              RevsearchError)
from revsearch.workspace import CollectionInfo, Workspace, data_dir

log = logging.getLogger("revsearch.app")
SELECTED = "collection"  # session_state key: slug of the collection in use
URL_KEY = "collection"  # query parameter: the collection in use, so a reload, a new tab or a shared link keep it


# ---------------------------------------------------------------------------------------------- cached handles


@st.cache_resource(show_spinner=False)
def _workspace(root: str) -> Workspace:
    ws = Workspace(root)
    ws.ensure_root()
    return ws


def workspace() -> Workspace:
    """The data directory's workspace ($REVSEARCH_DATA is read when the app starts each run)."""
    return _workspace(str(data_dir()))


@st.cache_resource(show_spinner=False)
def loaded_embedder(name: str) -> Embedder:
    """The server's one loaded model for `name`, without a spinner (for use inside cached functions)."""
    return Embedder(name)


def embedder(name: str) -> Embedder:
    """One loaded model per model name for the whole server: loading it happens once, with a spinner."""
    label = model_title(name)
    with st.spinner(f"Loading the {label} model (first time only)…"):
        return loaded_embedder(name)


@st.cache_resource(show_spinner=False)
def _collection(directory: str) -> Collection:
    return Collection.open(directory)


def collection(info: CollectionInfo) -> Collection:
    """One open handle per collection, shared by sessions; its FAISS index reloads itself when vectors change."""
    return _collection(str(info.directory))


def collection_at(directory: str) -> Collection:
    """The shared handle of the collection in `directory`: background jobs work on it, so what they derive (a
    retrain's suggester, the suggestions) is what the pages read."""
    return _collection(str(directory))


def forget_collection_handles() -> None:
    """Drop cached handles (before a delete, so no open database is removed under a live handle)."""
    _collection.clear()


REPRESENTATIVES, OUTLIERS = 6, 2  # per cluster in `clustering`: the Clusters page's tiles (two rows of four)


@st.cache_resource(show_spinner=False, max_entries=8)
def _clustering(directory: str, generation: int, version: str, _info: CollectionInfo) -> clusters.Clustering | None:
    return clusters.clustering(collection(_info), n_representatives=REPRESENTATIVES, n_outliers=OUTLIERS)


def clustering(info: CollectionInfo) -> clusters.Clustering | None:
    """The collection's clustering (REPRESENTATIVES and OUTLIERS per cluster), read once per (vectors, clusters)
    version for the whole server: reading a million members takes a second or two, and pages rerun on every click."""
    coll = collection(info)
    return _clustering(str(coll.directory), coll.generation, clusters.version(coll), info)


@st.cache_resource(show_spinner=False)
def demo_lock() -> threading.Lock:
    """Two browser tabs opening the app at first start must not both build the demo."""
    return threading.Lock()


@st.cache_data(show_spinner=False, ttl=60)
def model_for_new_collections() -> tuple[str, str]:
    """(model name, why) for new collections: ResNet-50 when its weights are on disk, else EfficientNet-Lite0."""
    return default_model()


def model_title(name: str) -> str:
    """'EfficientNet-Lite0' from the registry's description."""
    entry = REGISTRY.get(name)
    return entry.spec.description.split(" (")[0] if entry else name


# ---------------------------------------------------------------------------------------------- selection


INDEXING = "_indexing_now"  # session_state: directories of the collections an indexing job runs on


def collections() -> list[CollectionInfo]:
    return workspace().list()


def select(slug: str | None) -> None:
    st.session_state[SELECTED] = slug
    if slug is None:
        st.query_params.pop(URL_KEY, None)
    else:
        st.query_params[URL_KEY] = slug


def unknown_url_collection(infos: list[CollectionInfo]) -> str | None:
    """The collection named in the URL when this data folder has no such collection (a stale or foreign link)."""
    if st.session_state.get(SELECTED) is not None:
        return None  # chosen in this session already
    wanted = st.query_params.get(URL_KEY)
    return wanted if wanted and wanted not in {c.slug for c in infos} else None


def current(infos: list[CollectionInfo] | None = None) -> CollectionInfo | None:
    """The collection in use: chosen in this session, else named in the URL, else the first (the demo), else None.

    The choice is written back to the URL on every run: page switches drop query parameters, and a reload must find
    it there."""
    infos = collections() if infos is None else infos
    slug = st.session_state.get(SELECTED) or st.query_params.get(URL_KEY)
    chosen = next((info for info in infos if info.slug == slug), infos[0] if infos else None)
    if chosen is not None and (st.session_state.get(SELECTED) != chosen.slug
                               or st.query_params.get(URL_KEY) != chosen.slug):
        select(chosen.slug)
    return chosen


def note_indexing(directories: set[str]) -> None:
    """The collections an indexing job runs on or is about to (app.py, before the page): a job may wait for the page
    to finish before it starts, so the collection's own marker is not enough."""
    st.session_state[INDEXING] = directories


def being_indexed(info: CollectionInfo) -> bool:
    return info.indexing or str(info.directory) in st.session_state.get(INDEXING, set())


def page_collection(title: str, nothing_yet: str) -> tuple[CollectionInfo, Collection]:
    """The prologue of a page that needs indexed images: its title, then the current collection, or a hint and stop."""
    info = current()
    st.title(title)
    if info is None or info.counts.get("indexed", 0) == 0:
        st.info(f"“{info.name}” is being indexed: its images show here when the run ends (the sidebar shows how far "
                "it is)." if info is not None and being_indexed(info) else f"{nothing_yet}: add images on the "
                "**Collections** page.")
        st.stop()
    return info, collection(info)


# ---------------------------------------------------------------------------------------------- errors


APP_HINTS = {  # what to do about an error, in the app's words (revsearch.errors.HINTS; the CLI has its own)
    USE_MODEL: "This collection searches with its own model, {model}; make a new collection to use another.",
    USE_INPUT: "This collection keeps its own input handling, {input}; make a new collection to use another.",
    USE_PRECISION: "This collection keeps its own precision, {precision}; make a new collection to use another.",
    CREATE_COLLECTION: "Add images on the Collections page to make one.",
    MAKE_CLUSTERS: "Make clusters on the Clusters page first.",
    REPLACE_FILE: "Choose another name.",
}


def error_text(exc: RevsearchError) -> str:
    """An engine error for a person in the app: its message, then its hint in the app's words (no CLI flags)."""
    return f"{exc}. {APP_HINTS[exc.hint.kind].format(**exc.hint.data)}" if exc.hint else str(exc)


@contextmanager
def guard(action: str) -> Iterator[None]:
    """Run one user action; any failure becomes a readable message in the page instead of a traceback."""
    try:
        yield
    except RevsearchError as exc:
        st.error(f"**{action} did not work.** {error_text(exc)}", icon=":material/error:")
    except MemoryError:
        st.error(f"**{action} ran out of memory.** Try fewer or smaller images.", icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - the page must survive anything; details go to the server log
        log.exception("%s failed", action)
        st.error(f"**{action} failed unexpectedly** ({type(exc).__name__}: {exc}). The details are in the "
                 "terminal running Streamlit; please report them.", icon=":material/error:")


# ---------------------------------------------------------------------------------------------- messages


def flash(message: str) -> None:
    """A confirmation shown (as a toast) on the next run, so it survives the st.rerun that follows an action."""
    st.session_state.setdefault("_flash", []).append(message)


def show_flash() -> None:
    for message in st.session_state.pop("_flash", []):
        st.toast(message, icon=":material/check_circle:")
