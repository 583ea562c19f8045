"""Reusable pieces of the pages: the sidebar, progress bars with ETA and steps, the indexing summary."""

from __future__ import annotations

from functools import partial
from typing import Callable

import streamlit as st

from revsearch import workspace
from revsearch.auth import guarded
from revsearch.auth.roles import Actor
from revsearch.embed import REGISTRY
from revsearch.embed.embedder import Embedder
from revsearch.jobs import MODEL, RunClock
from revsearch.progress import Progress
from revsearch.workspace import CollectionInfo
from ui import state
from ui.progress_text import run_text, step_text


class AddingRun:
    """One progress bar over a run of adding images in the page itself (the demo's first build, which the app
    waits for): the model loading, then every phase of `add_images`, with one ETA (revsearch.jobs.RunClock).

        run = AddingRun("Setting up the demo")
        embedder = run.load_model(model)
        add_images(coll, files, embedder, run.phases)
        run.finish()                             # clears the bar
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.clock = RunClock()
        self.bar = st.progress(0.0, text=f"{label}…")

    def show(self, done: int = 0, total: int = 0, message: str = "") -> None:
        self.clock.observe(done, total)
        fraction, text = run_text(self.clock, self.label, done, total, message)
        self.bar.progress(fraction, text=text)

    def load_model(self, name: str) -> Embedder:
        """The model, loaded on this bar ("Loading the model…") rather than in a spinner beside an empty bar."""
        self.clock.start(MODEL)
        self.show()
        return state.loaded_embedder(name)

    def phases(self, name: str) -> Progress:
        """For `add_images(..., phases=run.phases)`: each phase, as it starts, takes over the bar."""
        self.clock.start(name)
        self.show()
        return self.show

    def finish(self) -> float:
        self.bar.empty()
        return self.clock.finish()


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
        names = {c.slug: c.name for c in infos}  # the name alone: the count is on the line below, never cut off
        st.session_state["sidebar_collection"] = info.slug  # follow selections made elsewhere (Use, Create)
        st.selectbox("Collection", slugs, format_func=names.get, key="sidebar_collection",
                     on_change=lambda: state.select(st.session_state["sidebar_collection"]))
        counts = info.counts
        extra = [info.size_text]
        if counts.get("skipped"):
            extra.append(f"{counts['skipped']} skipped file{'s' if counts['skipped'] != 1 else ''}")
        if counts.get("duplicate"):
            extra.append(f"{counts['duplicate']} duplicate{'s' if counts['duplicate'] != 1 else ''}")
        if extra:
            st.caption(" · ".join(extra), help="what the collection holds; skipped: files that are not readable "
                       "images; duplicates: identical content, indexed once (the Collections page lists them)")
        model_note(info.model)


def unknown_collection(slug: str, infos: list[CollectionInfo]) -> None:
    """A link named a collection this data folder does not have: say so and offer the ones it has (no silent switch)."""
    st.title("Collection not found")
    st.warning(f"This link opens the collection **{slug}**, but there is no such collection in "
               f"`{state.workspace().root}`: it may have been deleted or renamed, or the link comes from another "
               "computer. Nothing was switched. Choose a collection:", icon=":material/link_off:")
    for c in infos:
        st.button(c.label, key=f"url_use_{c.slug}", icon=":material/photo_library:", on_click=state.select,
                  args=(c.slug,))
    if not infos:
        st.info("There is no collection yet: create one on the **Collections** page.")


def index_summary(summary: dict) -> None:
    """What an indexing run did (ui.progress_text.index_summary): counts, then skipped files with reasons and
    duplicates, expandable. A run that found no image is a warning, not a success."""
    skipped, refused, duplicates = summary["skipped"], summary["refused"], summary["duplicates"]
    took = f" ({summary['breakdown']})" if summary.get("breakdown") else ""
    if not summary["found"]:
        st.warning(f"No image found, nothing was indexed{took}.", icon=":material/warning:")
    else:
        st.success(f"Done in {summary['seconds']:.1f} s{took}: **{summary['indexed']}** new image"
                   f"{'s' if summary['indexed'] != 1 else ''} indexed.", icon=":material/check_circle:")
    shown = [("Indexed", summary["indexed"], None), ("Unchanged", summary["unchanged"], None),
             ("Skipped", len(skipped), "files that are not readable images; the collection lists them as skipped"),
             ("Duplicates", len(duplicates), "identical content, indexed once")]
    if refused:
        shown.append(("Not added", len(refused), "uploads that are not images (or have no usable name): not kept"))
    if summary.get("removed"):
        shown.append(("Removed", summary["removed"], "missing files deleted for good"))
    for col, (label, value, why) in zip(st.columns(len(shown)), shown):
        col.metric(label, value, help=why)
    for warning in summary.get("warnings", []):
        st.warning(warning, icon=":material/warning:")
    if summary.get("missing") or summary.get("moved"):
        st.caption(f"{summary.get('missing', 0)} files not found (kept with their labels until they come back or "
                   f"are removed) · {summary.get('moved', 0)} moved or renamed (labels kept, not re-embedded)")
    if skipped or refused:
        with st.expander(f"Skipped files ({len(skipped) + len(refused)}) and why"):
            st.dataframe([{"file": name, "reason": reason} for name, reason in skipped]
                         + [{"file": name, "reason": f"not added: {reason}"} for name, reason in refused],
                         hide_index=True, width="stretch")
    if duplicates:
        with st.expander(f"Duplicates ({len(duplicates)}): identical content, indexed once"):
            st.dataframe([{"file": name, "same as": original} for name, original in duplicates],
                         hide_index=True, width="stretch")


def steps(label: str) -> tuple[Progress, Callable[[], None]]:
    """A progress bar for multi-step work whose messages say the sub-step (k-means, saving…); (callback, clear).

    Messages are prefixed with `label`, with a percentage when there is a total."""
    bar = st.progress(0.0, text=f"{label}…")

    def update(done: int, total: int, message: str) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        bar.progress(fraction, text=step_text(label, message) + (f" ({fraction:.0%})" if total else ""))

    return update, bar.empty


def build_demo(by: Actor | None = None) -> None:
    """Build the demo collection with a progress bar, select it and rerun (errors: shown by the caller's guard).

    At first start nobody asks for it (`by` None); a rebuild is asked for by someone, whose role is checked."""
    run = AddingRun("Setting up the demo")
    embedder = run.load_model(state.model_for_new_collections()[0])
    build = workspace.build_demo if by is None else partial(guarded.build_demo, by)
    demo, _added = build(state.workspace(), embedder, run.phases)
    run.finish()
    state.select(demo.slug)
    st.rerun()
