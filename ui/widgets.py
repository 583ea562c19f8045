"""Reusable pieces of the pages: the sidebar, progress bars with ETA and steps, the indexing summary."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from revsearch import adding
from revsearch.embed import REGISTRY
from revsearch.progress import Progress
from revsearch.workspace import CollectionInfo
from ui import state
from ui.progress_text import PHASE_LABELS, ProgressText, step_text


def adding_progress(label: str) -> tuple[adding.Phases, Callable[[], None]]:
    """One progress bar through the phases of adding images; returns (phases for add_images, clear).

    Embedding shows count, rate and ETA; the later phases (thumbnails, clusters, map) show their step and message.
    """
    bar = st.progress(0.0, text=f"{label}…")

    def phase(name: str) -> Progress:
        title = f"{label} — {PHASE_LABELS.get(name, name)}"
        if name == adding.EMBEDDING:
            text = ProgressText()

            def update(done: int, total: int, message: str) -> None:
                fraction, line = text(done, total, message)
                bar.progress(fraction, text=f"{title}: {line}")

            return update

        return _steps_on(bar, title)

    return phase, bar.empty


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
        cols[4].metric("Removed", summary["removed"], help="missing files deleted for good")
    for warning in summary.get("warnings", []):
        st.warning(warning, icon=":material/warning:")
    if summary.get("missing") or summary.get("moved"):
        st.caption(f"{summary.get('missing', 0)} files not found (kept with their labels until they come back or "
                   f"are removed) · {summary.get('moved', 0)} moved or renamed (labels kept, not re-embedded)")
    if skipped:
        with st.expander(f"Skipped files ({len(skipped)}) and why"):
            st.dataframe([{"file": name, "reason": reason} for name, reason in skipped], hide_index=True,
                         width="stretch")
    if duplicates:
        with st.expander(f"Duplicates ({len(duplicates)}): identical content, indexed once"):
            st.dataframe([{"file": name, "same as": original} for name, original in duplicates],
                         hide_index=True, width="stretch")


def steps(label: str) -> tuple[Progress, Callable[[], None]]:
    """A progress bar for multi-step work whose messages say the sub-step (k-means, saving…); (callback, clear)."""
    bar = st.progress(0.0, text=f"{label}…")
    return _steps_on(bar, label), bar.empty


def _steps_on(bar, label: str) -> Progress:
    """Draw a step's progress on `bar`: its messages prefixed with `label`, and a percentage when there is a total."""

    def update(done: int, total: int, message: str) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        bar.progress(fraction, text=step_text(label, message) + (f" ({fraction:.0%})" if total else ""))

    return update


def build_demo() -> None:
    """Build the demo collection with a progress bar, select it and rerun (errors: shown by the caller's guard)."""
    phases, clear = adding_progress("Setting up the demo (about 20 s the first time)")
    demo, _added = adding.build_demo(state.workspace(), state.embedder(state.model_for_new_collections()[0]), phases)
    clear()
    state.select(demo.slug)
    st.rerun()
