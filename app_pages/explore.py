"""Map: every image placed by similarity (UMAP), coloured by cluster or label; select a group and label it."""

from __future__ import annotations

import streamlit as st

from revsearch import labels, thumbnails
from ui import explore, state, undo, views

info, coll = state.page_collection("Map", "Nothing to map yet")

if next_color := st.session_state.pop("map_color_next", None):
    st.session_state["map_color"] = next_color
top = st.columns([3, 2], vertical_alignment="bottom")
top[0].caption("Similar images sit close together. Hover a point to preview it; drag a lasso or a box (tools at the "
               "top right of the map) to select a group, then label it below.")
color_by = top[1].segmented_control("Colour by", ["cluster", "label"], default="cluster", key="map_color",
                                    format_func=str.capitalize) or "cluster"
undo.undo_button(coll, key="undo_map")

selected: list[int] = []
with state.guard("Drawing the map"):
    selected = explore.collection_map(info, color_by, key=f"map_{info.slug}_{color_by}")

if not selected:
    st.caption("No images selected.")
    st.stop()

st.subheader(f"{len(selected)} image{'s' if len(selected) != 1 else ''} selected")
with state.guard("Labelling the selection"):
    with st.form("label_selection", border=True):
        cols = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
        with cols[0]:
            label = views.label_picker(info, key="selection_label",
                                       help="every selected image gets this label (replacing any other)")
        apply = cols[1].form_submit_button("Label selection", type="primary", icon=":material/label:",
                                           width="stretch")
        remove = cols[2].form_submit_button("Remove labels", icon=":material/label_off:", width="stretch")
    if apply:
        if label:
            st.session_state["map_color_next"] = "label"  # show the result of the labelling at once
        views.apply_label(info, selected, label)
    if remove:
        n = labels.unlabel_images(coll, selected)
        state.flash(f"Removed the label of {n} image{'s' if n != 1 else ''}")
        st.rerun()

with state.guard("Showing the selection"):
    limit = 48
    shown = selected[:limit]
    thumbs = thumbnails.thumbnails(coll, shown, views.THUMB)
    cluster_of, label_of = views.image_facts(info, shown)
    paths = coll.paths(shown)
    per_row = 8
    grid = st.container(key="grid_selection")
    for start in range(0, len(shown), per_row):
        cols = grid.columns(per_row)
        for col, image_id in zip(cols, shown[start : start + per_row]):
            with col:
                if image_id in thumbs:
                    st.image(thumbs[image_id], width="stretch")
                name = paths.get(image_id, "").rsplit("/", 1)[-1]
                st.caption(f"{views.md_escape(views.short(name))}  \n"
                           f"{views.md_escape(label_of.get(image_id, 'unlabelled'))}")
                views.more_like_this_button(image_id, name, key=f"sel_mlt_{image_id}", switch=True)
    if len(selected) > limit:
        st.caption(f"… and {len(selected) - limit} more (all {len(selected)} are labelled together).")
