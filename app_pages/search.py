"""Search: query by an uploaded image, the camera, or "more like this"; montage, grid, CSV, and the query on the map."""

from __future__ import annotations

import streamlit as st

from ui import access, feedback, labelling, maps, queries, results, state, undo
from ui.access import Permission

infos = state.collections()
info = state.current(infos)
st.title("Search by image")
st.caption("Find the images of your collection that look most like a picture.")
if info is None:
    st.info("No collection yet: create one on the **Collections** page.")
    st.stop()
coll = state.collection(info)
if coll.counts()["indexed"] == 0:
    if state.being_indexed(info):
        st.info(f"“{info.name}” is being indexed: search works when the run ends (the sidebar shows how far it is).")
        st.stop()
    st.info(f"“{info.name}” has no images yet: add some on the **Collections** page.")
    st.page_link("app_pages/collections.py", label="Add images", icon=":material/add_photo_alternate:")
    st.stop()

query = queries.query_picker(info)

with st.sidebar:
    st.divider()
    st.markdown("**Results**")
    k = st.slider("How many", 1, 60, 12, key="search_k")
    min_score = st.slider("Minimum similarity", 0.0, 1.0, 0.0, 0.05, key="search_min_score",
                          help="cosine similarity between the query and a result (1 = same picture)")

if query is None:
    st.caption("Upload a photo or take one with the camera, or start from one of these images of the collection:")
    with state.guard("Showing examples"):
        results.examples(info)
    st.stop()

with state.guard("Searching"):
    query = queries.query_region(info, query)
    hits, similarity = feedback.refine(info, query.key, queries.feedback_source(info, query),
                                       queries.search(info, query, k), k)
    shown = [h for h in hits if (similarity or {}).get(h.id, h.score) >= min_score]
    queries.query_header(info, query, shown, hits, min_score, similarity)
    feedback.chips(info, query.key)
    undo.undo_button(coll, key="undo_search")  # here, not in one tab: a label set in the details is undone here too
    if shown:
        grid_tab, montage_tab, map_tab, *label_tab = st.tabs(
            [":material/grid_view: Results", ":material/photo_library: Montage", ":material/scatter_plot: On the map",
             *([":material/label: Label these"] if access.can(Permission.LABEL) else [])],
            key="search_tab", on_change="rerun")
        if grid_tab.open:
            with grid_tab:
                results.results_grid(info, shown, key="search", exact=queries.exact_ids(info, query, shown),
                                     feedback_query=query.key, similarity=similarity)
                results.results_csv_button(info, query, shown)
        if montage_tab.open:
            with montage_tab:
                results.results_montage(info, query, shown)
        if map_tab.open:
            with map_tab, state.guard("Drawing the map"):
                maps.query_map(info, query.name, shown)
        if label_tab and label_tab[0].open:
            with label_tab[0]:
                labelling.label_results_form(info, shown)
