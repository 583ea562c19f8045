"""Relevance feedback in search: thumbs up / down on results refine the query ("more like these, less like those").

The marks belong to one query (session_state, keyed by the query's key): a new query starts with none. With at least
one image to search from — a thumbs-up, or the query itself when it is an image of the collection — the results come
from Searcher.by_feedback; thumbs-down alone on an uploaded query only hides those images.
"""

from __future__ import annotations

from pathlib import Path
import streamlit as st

from revsearch.search import Hit, Searcher
from revsearch.workspace import CollectionInfo
from ui import learning, state

KEY = "search_feedback"


def marks(query_key: str) -> dict[str, list[int]]:
    """{"up": ids, "down": ids} for this query (a new query starts empty)."""
    held = st.session_state.get(KEY)
    if not held or held.get("query") != query_key:
        held = {"query": query_key, "up": [], "down": []}
        st.session_state[KEY] = held
    return held


def _mark(query_key: str, image_id: int, kind: str) -> None:
    held = marks(query_key)
    other = "down" if kind == "up" else "up"
    held[other] = [i for i in held[other] if i != image_id]
    held[kind] = [i for i in held[kind] if i != image_id] if image_id in held[kind] else [*held[kind], image_id]


def clear(query_key: str) -> None:
    st.session_state[KEY] = {"query": query_key, "up": [], "down": []}


def thumbs(query_key: str, image_id: int, key: str) -> None:
    """👍 / 👎 under a result; a second click takes the mark back."""
    held = marks(query_key)
    left, right = st.columns(2, gap="small")
    left.button("", key=f"{key}_up", icon=":material/thumb_up:", help="more like this one",
                type="primary" if image_id in held["up"] else "tertiary", on_click=_mark,
                args=(query_key, image_id, "up"))
    right.button("", key=f"{key}_down", icon=":material/thumb_down:", help="less like this one",
                 type="primary" if image_id in held["down"] else "tertiary", on_click=_mark,
                 args=(query_key, image_id, "down"))


def refine(info: CollectionInfo, query_key: str, query_id: int | None, hits: list[Hit], k: int) -> list[Hit]:
    """The results after the marks: by_feedback when there is an image to search from, else `hits` minus the
    thumbs-down."""
    held = marks(query_key)
    if not held["up"] and not held["down"]:
        return hits
    positive = list(dict.fromkeys([*([query_id] if query_id is not None else []), *held["up"]]))
    if not positive:
        return [h for h in hits if h.id not in held["down"]]
    coll = state.collection(info)
    return _by_feedback(str(info.directory), coll.generation, learning.space_token(coll), tuple(positive),
                        tuple(held["down"]), k, info)


@st.cache_data(show_spinner="Refining…", max_entries=32)
def _by_feedback(directory: str, generation: int, space: str, positive: tuple[int, ...], negative: tuple[int, ...],
                 k: int, _info: CollectionInfo) -> list[Hit]:
    coll = state.collection(_info)
    return Searcher(coll, state.loaded_embedder(coll.model)).by_feedback(list(positive), list(negative), k=k)


def chips(info: CollectionInfo, query_key: str) -> None:
    """The current marks as small green / red chips, with a button that clears them."""
    held = marks(query_key)
    if not held["up"] and not held["down"]:
        st.caption("Mark results with :material/thumb_up: or :material/thumb_down: to refine the search.")
        return
    paths = state.collection(info).paths([*held["up"], *held["down"]])

    def chip(image_id: int, colour: str) -> str:
        name = Path(paths.get(image_id, str(image_id))).name.replace("]", "").replace("[", "")
        return f":{colour}-badge[{name}]"

    parts = []
    if held["up"]:
        parts.append("More like " + " ".join(chip(i, "green") for i in held["up"]))
    if held["down"]:
        parts.append("less like " + " ".join(chip(i, "red") for i in held["down"]))
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.markdown(" · ".join(parts))
    right.button("Clear feedback", key="clear_feedback", icon=":material/close:", type="tertiary",
                 on_click=clear, args=(query_key,))

