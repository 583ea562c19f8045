"""Reusable pieces of the pages: the sidebar, progress bars with ETA, the indexing summary."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from revsearch.embed import REGISTRY
from revsearch.progress import Progress
from revsearch.workspace import CollectionInfo, ProgressText
from ui import state


def progress(label: str, unit: str = "images") -> tuple[Progress, Callable[[], None]]:
    """A progress bar with count, rate and ETA; returns (callback, clear)."""
    bar = st.progress(0.0, text=f"{label}…")
    text = ProgressText(unit)

    def update(done: int, total: int, message: str) -> None:
        fraction, line = text(done, total, message)
        bar.progress(fraction, text=f"{label} — {line}")

    return update, bar.empty


def model_note(model: str) -> None:
    """The model in use, and — when ResNet-50 could not be used — why, and how to get it."""
    title = state.model_title(model)
    entry = REGISTRY.get(model)
    st.markdown(f":material/memory: **Model:** {title}", help=entry.spec.description if entry else None)
    if model != "efficientnet_lite0":
        return
    default, why = state.model_for_new_collections()
    if default == "resnet50":
        st.caption("ResNet-50 weights are available now: new collections will use ResNet-50.")
        return
    st.caption("Uses EfficientNet-Lite0 because the ResNet-50 weights are not on this machine "
               "(Lite0 ships with revsearch and works offline).")
    with st.expander("How to use ResNet-50"):
        st.markdown(f"Why: {why.split('(', 1)[-1].rstrip(')')}.")
        st.markdown(f"ResNet-50 needs {REGISTRY['resnet50'].spec.needs}.")
        st.markdown("Then restart the app and create a new collection: a collection keeps the model it was "
                    "built with, because vectors from different models cannot be compared.")


def sidebar(infos: list[CollectionInfo], info: CollectionInfo | None) -> None:
    """Collection switcher, what it holds, and the model — on every page."""
    with st.sidebar:
        if not infos or info is None:
            st.info("No collection yet — create one on the **Collections** page.")
            model_note(state.model_for_new_collections()[0])
            return
        slugs = [c.slug for c in infos]
        labels = {c.slug: c.label for c in infos}
        st.session_state["sidebar_collection"] = info.slug  # follow selections made elsewhere (Use, Create)
        st.selectbox("Collection", slugs, format_func=labels.get, key="sidebar_collection",
                     on_change=lambda: state.select(st.session_state["sidebar_collection"]))
        counts = info.counts
        extra = []
        if counts.get("skipped"):
            extra.append(f"{counts['skipped']} skipped")
        if counts.get("duplicate"):
            extra.append(f"{counts['duplicate']} duplicates")
        if extra:
            st.caption(" · ".join(extra))
        model_note(info.model)


def index_summary(summary: dict) -> None:
    """What an indexing run did: counts, then skipped files with reasons and duplicates, expandable."""
    skipped, duplicates = summary["skipped"], summary["duplicates"]
    st.success(f"Done in {summary['seconds']:.1f} s: **{summary['indexed']}** new image"
               f"{'s' if summary['indexed'] != 1 else ''} indexed.", icon=":material/check_circle:")
    cols = st.columns(4 if not summary.get("removed") else 5)
    cols[0].metric("Indexed", summary["indexed"])
    cols[1].metric("Unchanged", summary["unchanged"])
    cols[2].metric("Skipped", len(skipped))
    cols[3].metric("Duplicates", len(duplicates))
    if summary.get("removed"):
        cols[4].metric("Removed", summary["removed"], help="files gone from the folder since the last sync")
    if skipped:
        with st.expander(f"Skipped files ({len(skipped)}) and why"):
            st.dataframe([{"file": name, "reason": reason} for name, reason in skipped], hide_index=True,
                         width="stretch")
    if duplicates:
        with st.expander(f"Duplicates ({len(duplicates)}): identical content, indexed once"):
            st.dataframe([{"file": name, "same as": original} for name, original in duplicates],
                         hide_index=True, width="stretch")


def steps(label: str) -> tuple[Progress, Callable[[], None]]:
    """A progress bar for multi-step work whose messages name the step (thumbnails, clusters, map)."""
    bar = st.progress(0.0, text=f"{label}…")

    def update(done: int, total: int, message: str) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        bar.progress(fraction, text=f"{label} — {message}" + (f" ({fraction:.0%})" if total else ""))

    return update, bar.empty


def build_demo() -> None:
    """Build the demo collection with progress bars, select it and rerun (errors: shown by the caller's guard)."""
    ws = state.workspace()
    update, clear = progress("Indexing the demo photos")
    demo, _report = ws.build_demo(state.embedder(state.model_for_new_collections()[0]), progress=update)
    clear()
    update, clear = steps("Grouping the photos and laying out the map (about 20 s the first time)")
    ws.prepare(demo.slug, progress=update)
    clear()
    state.select(demo.slug)
    st.rerun()
