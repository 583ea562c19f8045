"""The map's selection: picks (box, lasso, click) add up until cleared, and the selected region shows as a grid of
thumbnails whose checkboxes let a stray image be unticked before labelling.

Kept in session_state per collection: {"slug", "ids" (in the order picked), "seen" (the chart's last pick, which
Streamlit repeats on every rerun and must not be added twice), "round" (bumped by Clear: a new chart key drops the
chart's own selection too)}.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from revsearch import thumbnails
from revsearch.auth import guarded
from revsearch.workspace import CollectionInfo
from ui import access, detail, display, labelling, queries, state

KEY = "map_selection"
PROBLEM = "map_selection_problem"  # session_state: why the last "Label selection" did nothing
GRID_LIMIT = 120  # thumbnails shown (each with its checkbox); a bigger selection is labelled as a whole
PER_ROW = 8


def merge(current: Sequence[int], seen: Sequence[int], picked: Sequence[int]) -> tuple[list[int], list[int]]:
    """(selection, seen) after the chart reported `picked`: a new pick is added, a repeated one changes nothing."""
    if not picked:  # the chart's selection was cleared (double-click): picking the same again counts
        return list(current), []
    if list(picked) == list(seen):
        return list(current), list(seen)
    return list(dict.fromkeys([*current, *picked])), list(picked)


def _state(info: CollectionInfo) -> dict:
    held = st.session_state.get(KEY)
    if not held or held.get("slug") != info.slug:
        held = {"slug": info.slug, "ids": [], "seen": [], "round": 0}
        st.session_state[KEY] = held
    return held


def chart_round(info: CollectionInfo) -> int:
    """Part of the chart's key: Clear starts a new chart, so its own box or lasso goes too."""
    return _state(info)["round"]


def add_pick(info: CollectionInfo, picked: Sequence[int]) -> list[int]:
    """Fold the chart's latest pick into the selection; returns the whole selection."""
    held = _state(info)
    held["ids"], held["seen"] = merge(held["ids"], held["seen"], picked)
    return held["ids"]


def clear(info: CollectionInfo) -> None:
    held = _state(info)
    held["ids"], held["seen"] = [], []
    held["round"] += 1


def _tick_key(info: CollectionInfo, image_id: int) -> str:
    return f"keep_{info.slug}_{_state(info)['round']}_{image_id}"


def ticked(info: CollectionInfo, ids: Sequence[int]) -> list[int]:
    """The selected images still ticked in the grid (images past the grid's limit count as ticked)."""
    return [i for i in ids if st.session_state.get(_tick_key(info, i), True)]


def drop_unticked(info: CollectionInfo) -> None:
    held = _state(info)
    held["ids"] = ticked(info, held["ids"])


def label_ticked(info: CollectionInfo, ids: Sequence[int], label_key: str) -> None:
    """Button callback: the ticked images get the label typed under `label_key`, then the selection is cleared and
    the map coloured by label (so the result shows at once)."""
    label = str(st.session_state.get(label_key) or "").strip()
    if not ids or not label:
        st.session_state[PROBLEM] = "Select at least one image." if not ids else "Type or pick a label first."
        return
    with state.guard("Labelling the selection"):
        n = guarded.label_images(access.actor(), state.collection(info), list(ids), label)
        state.flash(f"Labelled {len(ids)} image{'s' if len(ids) != 1 else ''} “{label}”"
                    + (f" ({n} changed)" if n != len(ids) else ""))
        st.session_state["map_color_next"] = "label"
        clear(info)


def unlabel_ticked(info: CollectionInfo, ids: Sequence[int]) -> None:
    """Button callback: the ticked images lose their label; the selection is cleared."""
    with state.guard("Removing the labels"):
        n = guarded.unlabel_images(access.actor(), state.collection(info), list(ids))
        clear(info)
        state.flash(f"Removed the label of {n} image{'s' if n != 1 else ''}")


def problem() -> None:
    """Why the last click on "Label selection" labelled nothing (once)."""
    if message := st.session_state.pop(PROBLEM, None):
        st.warning(message)


def grid(info: CollectionInfo, ids: Sequence[int]) -> None:
    """The selected region as a grid: thumbnail, name, label and a checkbox (ticked) per image."""
    coll = state.collection(info)
    shown = list(ids[:GRID_LIMIT])
    thumbs = thumbnails.thumbnails(coll, shown, display.THUMB)
    _, label_of = labelling.image_facts(info, shown)
    paths = coll.paths(shown)
    box = st.container(key="grid_selection")
    for start in range(0, len(shown), PER_ROW):
        cols = box.columns(PER_ROW)
        for col, image_id in zip(cols, shown[start : start + PER_ROW]):
            with col:
                if image_id in thumbs:
                    st.image(thumbs[image_id], width="stretch")
                name = paths.get(image_id, "").rsplit("/", 1)[-1]
                st.checkbox(display.short(name, 22), value=True, key=_tick_key(info, image_id),
                            help=f"{name} · {label_of.get(image_id, 'unlabelled')}. Untick to leave it out.")
                st.caption(display.md_escape(label_of.get(image_id, "unlabelled")))
                detail.detail_button(info, image_id, key=f"sel_detail_{image_id}")
                queries.more_like_this_button(image_id, name, key=f"sel_mlt_{image_id}", switch=True)
    if len(ids) > GRID_LIMIT:
        st.caption(f"… and {len(ids) - GRID_LIMIT} more, not shown: they are labelled with the ticked ones. "
                   "Clear and pick a smaller region to review every image.")
