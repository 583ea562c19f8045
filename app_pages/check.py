"""Check: can this dataset be trusted? Labels that are probably wrong (each beside typical images of its label and of
the one revsearch suggests), images with quality problems, and overlap with a test set — one click per fix, undoable."""

from __future__ import annotations

import streamlit as st

from ui import access, check_cards, checking, state, undo
from ui.access import Permission

info, coll = state.page_collection("Check", "Nothing to check yet")
access.actor().require(Permission.AUDIT)  # the page is not listed for viewers; a stale link is refused too
st.caption("Before the dataset leaves revsearch: labels that are probably wrong (most likely first; only those worth "
           "betting on), images that are dark, overexposed, blurred, flat, tiny, oddly shaped, grey, far from "
           "everything or near-copies, and outside images (a test set) that copy images of this collection.")
with state.guard("Checking the dataset"):
    found = checking.report(info)
if found is None:
    st.stop()
row = st.columns([3, 2], vertical_alignment="center")
row[0].markdown(f"**{found.images:,}** images, **{found.labelled:,}** labelled: **{len(found.label_issues)}** label "
                f"issue{'s' if len(found.label_issues) != 1 else ''}, **{len(found.quality_issues)}** with a quality "
                f"problem ({found.seconds:.1f} s).")
with row[1]:
    undo.undo_button(coll, key="undo_check")
    check_cards.undo_confirm(info)
    check_cards.undo_exclusion(info)
labels_tab, quality_tab, overlap_tab = st.tabs(  # titles without counts: the open tab stays open as they change
    [":material/label: Labels", ":material/image_search: Image quality", ":material/join_inner: Overlap with a test set"],
    key="check_tab", on_change="rerun")
if labels_tab.open:
    with labels_tab, state.guard("Showing the label issues"):
        check_cards.label_issues(info, found)
        if found.classes:
            with st.expander("Per label: images, sources, issues"):
                st.dataframe([{"label": c.label, "images": c.images, "label issues": c.label_issues,
                               "quality issues": c.quality_issues, "flagged": f"{c.flagged_share:.0%}",
                               "sources": ", ".join(f"{k} {v}" for k, v in sorted(c.sources.items()))}
                              for c in found.classes], hide_index=True, width="stretch")
if quality_tab.open:
    with quality_tab, state.guard("Showing the quality issues"):
        check_cards.quality_issues(info, found)
if overlap_tab.open:
    with overlap_tab:
        others = [c for c in state.collections() if c.slug != info.slug]
        with st.form("check_overlap"):
            st.caption("Compare with a test set: another collection, or a folder on this machine (embedded for the "
                       "check; nothing is added to either).")
            other = st.selectbox("Another collection", [c.slug for c in others], index=None, key="check_against",
                                 format_func=lambda slug: next(c.name for c in others if c.slug == slug),
                                 placeholder="choose a collection…")
            folder = st.text_input("…or a folder on this machine", placeholder="/home/me/test-set",
                                   key="check_against_folder")
            go = st.form_submit_button("Compare", type="primary", icon=":material/compare:")
        if go:
            with state.guard("Comparing"):
                st.session_state["check_overlap_pairs"] = (info.slug, checking.overlap(info, folder, other))
        kept = st.session_state.get("check_overlap_pairs")
        if kept is not None and kept[0] == info.slug:
            check_cards.overlap_pairs(info, kept[1])
