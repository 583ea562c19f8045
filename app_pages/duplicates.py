"""Duplicates: groups of near-identical images side by side with their similarity scores; "not a duplicate", the
redundant copies as CSV, and moving them to a folder (with undo). Nothing is ever deleted."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from revsearch import near_duplicates, thumbnails
from revsearch.near_duplicates import DuplicateGroup
from revsearch.workspace import CollectionInfo
from ui import detail, display, duplicates, queries, state

info, coll = state.page_collection("Duplicates", "Nothing to compare yet")
GROUPS_SHOWN = 20  # groups drawn at first (up to 8 images each); "Show more" adds as many again
ON_DEMAND_ABOVE = 20_000  # above this many images the comparison starts on a click and runs in the background


@st.cache_data(show_spinner="Comparing every image with every other…", max_entries=16)
def find(directory: str, generation: int, marks: int, threshold: float, exact: bool,
         _info: CollectionInfo) -> list[DuplicateGroup]:
    return near_duplicates.find_duplicates(state.collection(_info), threshold=threshold, include_exact=exact)


left, right = st.columns([3, 2], vertical_alignment="bottom")
default = near_duplicates.default_threshold(coll)
threshold = left.slider("Similarity threshold", 0.70, 1.0, default, 0.01, key="dup_threshold",
                        help=f"pairs at least this similar are grouped. {default:.2f} (the default for this "
                             "collection) catches resized, re-encoded and lightly edited copies while almost no "
                             "distinct photos reach it.")
exact = right.toggle("Include exact copies (same file content)", value=True, key="dup_exact")

duplicates.undo_last_move(info)
n_indexed = info.counts.get("indexed", 0)
if n_indexed > ON_DEMAND_ABOVE:
    # comparing a large collection takes minutes: the page opens at once, the person starts it, it runs in the
    # background and its result is kept in the collection
    duplicates.scan_in_background(info, round(threshold, 3), n_indexed)
with state.guard("Finding duplicates"):
    groups = find(str(info.directory), coll.generation, duplicates.marks_version(info), round(threshold, 3), exact,
                  info)
    if not groups:
        st.success(f"No two images are {threshold:.2f} similar or more.", icon=":material/check_circle:")
        st.stop()
    n_images = sum(len(g.members) for g in groups)
    st.caption(f"**{len(groups)} group{'s' if len(groups) != 1 else ''}**, {n_images} images. The first image of "
               "each group is its anchor (the best connected, the copy to keep); scores are similarity to the anchor.")
    duplicates.actions(info, groups)
    limit = st.session_state.get("dup_shown", GROUPS_SHOWN)  # thumbnails are made for the groups drawn only
    ids = [m.id for g in groups[:limit] for m in g.members[:8]]
    thumbs = thumbnails.thumbnails(coll, ids, display.THUMB)
    for g in groups[:limit]:
        with st.container(border=True, key=f"grid_dups_{g.id}"):
            kind = "exact copies" if g.exact else f"similarity {g.min_score:.3f}–{g.max_score:.3f}"
            st.markdown(f"**Group {g.id + 1}** · {len(g.members)} images · {kind}")
            cols = st.columns(min(8, max(4, len(g.members))))
            for col, m in zip(cols, g.members[:8]):
                with col:
                    if m.id in thumbs:
                        st.image(thumbs[m.id], width="stretch")
                    name = Path(m.path).name
                    tag = "anchor" if m is g.members[0] else ("exact copy" if m.exact else f"{m.score:.3f}")
                    st.caption(f"{tag}  \n{display.md_escape(display.short(name))}", help=m.path)
                    detail.detail_button(info, m.id, key=f"dup_detail_{g.id}_{m.id}", score=m.score)
                    if not m.exact:
                        queries.more_like_this_button(m.id, name, key=f"dup_mlt_{g.id}_{m.id}", switch=True)
                        if m is not g.members[0]:
                            duplicates.not_duplicate_button(info, m.id, g)
            if len(g.members) > 8:
                st.caption(f"… and {len(g.members) - 8} more")
    if len(groups) > limit:
        st.caption(f"Showing the first {limit} of {len(groups)} groups; raise the threshold to narrow them down.")
        if st.button(f"Show {min(GROUPS_SHOWN, len(groups) - limit)} more groups", icon=":material/unfold_more:",
                     key="dup_more"):
            st.session_state["dup_shown"] = limit + GROUPS_SHOWN
            st.rerun()
