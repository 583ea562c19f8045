"""Relevance feedback in search: thumbs up / down on results refine the query ("more like these, less like those").

The marks belong to one query (session_state, keyed by the query's key): a new query starts with none. With any mark
the results come from Searcher.by_feedback — the query and the thumbs-up images are the positives, the thumbs-down ones
the negatives — and they are as many as before: a thumbs-down pushes look-alikes down, it does not shorten the list.
Their score is then the adjusted (Rocchio) score, shown as such beside the plain similarity to the query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from revsearch.search import FeedbackRef, Hit, Searcher
from revsearch.workspace import CollectionInfo
from ui import learning, state

KEY = "search_feedback"
ADJUSTED = "adjusted score"
EXPLAIN = ("adjusted score = similarity to the query and the :material/thumb_up: images − half the similarity to "
           "the :material/thumb_down: images; similarity = to the query alone")


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
    """👍 / 👎 under a result; a second click takes the mark back. The buttons show only their icons, but they have
    names ("Thumbs up", kept for screen readers and tests, hidden on screen by the app's `thumbs_` CSS)."""
    held = marks(query_key)
    left, right = st.container(key=f"thumbs_{key}").columns(2, gap="small")
    left.button("Thumbs up", key=f"{key}_up", icon=":material/thumb_up:",
                help="more like this one: it joins the query", type="primary" if image_id in held["up"] else
                "tertiary", on_click=_mark, args=(query_key, image_id, "up"))
    right.button("Thumbs down", key=f"{key}_down", icon=":material/thumb_down:",
                 help="less like this one: it and its look-alikes move down",
                 type="primary" if image_id in held["down"] else "tertiary", on_click=_mark,
                 args=(query_key, image_id, "down"))


def refine(info: CollectionInfo, query_key: str, source: Callable[[], FeedbackRef], hits: list[Hit],
           k: int) -> tuple[list[Hit], dict[int, float] | None]:
    """(results, similarity to the query of each) after the marks: the query itself (`source()`: its image id, or
    the image) and the thumbs-up images are the positives, the thumbs-down ones the negatives (Searcher.by_feedback);
    the k best by that adjusted score come back, so the count stays. Without marks: `hits` as they are, and None."""
    held = marks(query_key)
    if not held["up"] and not held["down"]:
        return hits, None
    coll = state.collection(info)
    return _refined(str(info.directory), coll.generation, learning.space_token(coll), query_key, tuple(held["up"]),
                    tuple(held["down"]), k, info, source)


@st.cache_data(show_spinner="Refining…", max_entries=32)
def _refined(directory: str, generation: int, space: str, query_key: str, up: tuple[int, ...],
             down: tuple[int, ...], k: int, _info: CollectionInfo,
             _source: Callable[[], FeedbackRef]) -> tuple[list[Hit], dict[int, float]]:
    coll = state.collection(_info)
    searcher = Searcher(coll, state.loaded_embedder(coll.model))
    query = _source()
    hits = searcher.by_feedback([query, *(i for i in up if i != query)], list(down), k=k)
    return hits, searcher.similarity(query, [h.id for h in hits])


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
    left.caption(f"Ranked by {EXPLAIN}.")
    right.button("Clear feedback", key="clear_feedback", icon=":material/close:", type="tertiary", wrap=True,
                 on_click=clear, args=(query_key,))

