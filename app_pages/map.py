"""Map: every image placed by similarity (UMAP), coloured by cluster or label; select a region and label it."""

from __future__ import annotations

import streamlit as st

from ui import access, labelling, map_selection, maps, state, undo
from ui.access import Permission

info, coll = state.page_collection("Map", "Nothing to map yet")

if next_color := st.session_state.pop("map_color_next", None):
    st.session_state["map_color"] = next_color
top = st.columns([4, 2, 1], vertical_alignment="bottom")
top[0].caption("Similar images sit close together. Hover a point to preview it; drag a lasso or a box (tools at the "
               "top right of the map) to select a region. Each new pick is added to the selection.")
color_by = top[1].segmented_control("Colour by", ["cluster", "label"], default="cluster", key="map_color",
                                    format_func=str.capitalize) or "cluster"
with top[2].popover("Display", icon=":material/tune:", width="stretch"):
    size = st.slider("Point size", 2, 24, key="map_point_size",
                     value=maps.marker_size(info.counts.get("indexed", 0)))
    opacity = st.slider("Opacity", 0.1, 1.0, 0.9, 0.05, key="map_opacity")
    show_names = st.toggle("Names on the map", value=True, key="map_names",
                           help="each cluster's (or label's) name written at its centre")
undo.undo_button(coll, key="undo_map")

selected: list[int] = []
with state.guard("Drawing the map"):
    picked = maps.collection_map(info, color_by, size=size, opacity=opacity, show_names=show_names,
                                    key=f"map_{info.slug}_{color_by}_{map_selection.chart_round(info)}")
    selected = map_selection.add_pick(info, picked)

if not selected:
    st.caption("No images selected.")
    st.stop()

keep = map_selection.ticked(info, selected)
head = st.columns([5, 1.4, 1.2], vertical_alignment="center")
head[0].subheader(f"{len(selected)} image{'s' if len(selected) != 1 else ''} selected"
                  + (f" · {len(keep)} ticked" if len(keep) != len(selected) else ""))
if head[1].button("Drop unticked", icon=":material/filter_alt:", disabled=len(keep) == len(selected),
                  width="stretch", help="take the unticked images out of the selection"):
    map_selection.drop_unticked(info)
    st.rerun()
if head[2].button("Clear", icon=":material/deselect:", width="stretch", key="clear_selection"):
    map_selection.clear(info)
    st.rerun()

if access.can(Permission.LABEL):  # viewers browse the selection; labelling it is for labellers
    with state.guard("Labelling the selection"):
        with st.form("label_selection", border=True):
            cols = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
            with cols[0]:
                labelling.label_picker(info, key="selection_label",
                                       help="every ticked image gets this label (replacing any other)")
            # callbacks: the label is written before the page runs again, so a click costs one run of the page
            cols[1].form_submit_button(f"Label {len(keep)} ticked" if len(keep) != len(selected) else "Label selection",
                                       type="primary", icon=":material/label:", width="stretch",
                                       on_click=map_selection.label_ticked, args=(info, keep, "selection_label"))
            cols[2].form_submit_button("Remove labels", icon=":material/label_off:", width="stretch",
                                       on_click=map_selection.unlabel_ticked, args=(info, keep))
        map_selection.problem()

with state.guard("Showing the selection"):
    map_selection.grid(info, selected)
