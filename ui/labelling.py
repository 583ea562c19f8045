"""Labelling from any page: the label box (with the labels in use), labelling many results at once, and what an
image already has (its cluster, its label)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import streamlit as st

from revsearch import clusters, labels
from revsearch.auth import guarded
from revsearch.search import Hit
from revsearch.workspace import CollectionInfo
from ui import access, state
from ui.display import md_escape


def image_facts(info: CollectionInfo, ids: Sequence[int]) -> tuple[dict[int, int], dict[int, str]]:
    """(image id -> cluster id, image id -> label) for the given images."""
    coll = state.collection(info)
    return clusters.assignments(coll, ids), labels.labels(coll, ids)


def placeholder(existing: Sequence[str]) -> str:
    """A label box's hint, from the collection's own labels (the most used first)."""
    return f"e.g. {', '.join(existing[:2])}" if existing else "a word for what these images show"


def label_picker(info: CollectionInfo, key: str, help: str | None = None) -> str:
    """A text box for a label; the labels already in use are listed under it (typing one reuses it)."""
    existing = list(labels.label_counts(state.collection(info)))
    value = st.text_input("Label", key=key, placeholder=placeholder(existing), max_chars=labels.MAX_LABEL_CHARS,
                          help=help)
    if existing:
        shown = ", ".join(md_escape(x) for x in existing[:12]) + (" …" if len(existing) > 12 else "")
        st.caption(f"In use: {shown}")
    return value.strip()


def label_results_form(info: CollectionInfo, hits: Sequence[Hit]) -> None:
    """Give the same label to some of the results in one action."""
    options = [h.id for h in hits]
    names = {h.id: f"#{r} {Path(h.path).name}" for r, h in enumerate(hits, 1)}
    with st.form("label_results"):
        chosen = st.multiselect("Images", options, default=options, format_func=names.get)
        label = label_picker(info, key="label_results_name")
        submitted = st.form_submit_button("Apply label", type="primary", icon=":material/label:")
    if submitted:
        with state.guard("Labelling"):
            apply_label(info, chosen, label)


def apply_label(info: CollectionInfo, ids: Sequence[int], label: str) -> None:
    """Label images in one action, then redraw the page (the map and grids show the new label)."""
    if not ids:
        st.warning("Select at least one image.")
        return
    if not label:
        st.warning("Type or pick a label first.")
        return
    n = guarded.label_images(access.actor(), state.collection(info), list(ids), label)
    state.flash(f"Labelled {len(ids)} image{'s' if len(ids) != 1 else ''} “{label}”"
                + (f" ({n} changed)" if n != len(ids) else ""))
    st.rerun()
