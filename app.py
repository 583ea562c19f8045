"""revsearch — reverse image search over your own photo folders.  Start with:  streamlit run app.py

This file only wires pages together: the sign-in of a shared app, the sidebar (collection + model), the first-start
demo build, navigation (each page shown to the roles that may use it).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# a bundled PNG: an emoji or :material/…: page icon makes the browser fetch the favicon from a CDN (issue 12)
st.set_page_config(page_title="revsearch", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"),
                   layout="wide", initial_sidebar_state="expanded")

from ui import access, jobs, learning, signin, state, widgets  # noqa: E402  (after set_page_config)
from ui.access import Permission  # noqa: E402

STYLE = """
<style>
/* thumbnails in result grids: square boxes, the whole image letterboxed, so every card has the same height */
[class*="st-key-grid_"] [data-testid="stImage"] img {
  aspect-ratio: 1 / 1; object-fit: contain; background: #f3f5f9; border-radius: 8px; width: 100%;
}
[class*="st-key-grid_"] [data-testid="stCaptionContainer"] { line-height: 1.35; }
/* icon-only buttons (thumbs): the name stays for screen readers, off screen */
[class*="st-key-thumbs_"] button [data-testid="stMarkdownContainer"] {
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;
}
/* cluster outliers: outlined in red */
[class*="st-key-outlier_"] [data-testid="stImage"] img { outline: 3px solid #e5484d; outline-offset: -3px; }
</style>
"""

PAGES = [  # (page, what a role needs to see it)
    (st.Page("app_pages/search.py", title="Search", icon=":material/image_search:", default=True), Permission.SEARCH),
    (st.Page("app_pages/map.py", title="Map", icon=":material/scatter_plot:"), Permission.SEARCH),
    (st.Page("app_pages/clusters.py", title="Clusters", icon=":material/workspaces:"), Permission.SEARCH),
    (st.Page("app_pages/label_next.py", title="Label next", icon=":material/task_alt:"), Permission.LABEL),
    (st.Page("app_pages/duplicates.py", title="Duplicates", icon=":material/content_copy:"), Permission.SEARCH),
    (st.Page("app_pages/check.py", title="Check", icon=":material/fact_check:"), Permission.AUDIT),
    (st.Page("app_pages/collections.py", title="Collections", icon=":material/photo_library:"), Permission.SEARCH),
    (st.Page("app_pages/team.py", title="Team", icon=":material/group:"), Permission.MANAGE_USERS),
]


def build_demo_if_needed() -> None:
    """First start: build the demo collection with a progress bar, once; later starts reuse it."""
    ws = state.workspace()
    if not ws.demo_needed():
        return
    with state.demo_lock():
        if not ws.demo_needed():  # another tab built it meanwhile
            return
        st.title("Welcome to revsearch")
        st.write("Setting up a demo collection of 80 public-domain clothing photos so you can search right away. "
                 "This happens once; your own collections are added on the **Collections** page.")
        with state.guard("Building the demo collection"):
            widgets.build_demo()
        st.stop()  # the error above is shown; the rest of the app needs a collection


def main() -> None:
    """One run of the app: sign-in, the sidebar, the background jobs, then the page the person is on."""
    st.html(STYLE)
    if not signin.gate():
        st.stop()  # a shared app shows the sign-in form (or why it cannot start) and nothing else
    nav = st.navigation([page for page, need in PAGES if access.can(need)])
    ready = False
    with state.guard("Starting revsearch"):
        build_demo_if_needed()
        infos = state.collections()
        unknown = state.unknown_url_collection(infos)
        if unknown:
            widgets.unknown_collection(unknown, infos)
            st.stop()
        info = state.current(infos)
        widgets.sidebar(infos, info)
        signin.badge()
        ready = True
    if not ready:
        st.stop()  # the message above says what is wrong (e.g. a data directory that cannot be written)
    indexed = info is not None and info.counts.get("indexed", 0) > 0
    if indexed:
        with state.guard("Learning from your labels"):
            learning.retrain_after_label_changes(info)  # every labelling action moves the labels version
    jobs.note_running()
    state.note_indexing({j.directory for j in jobs.runner().running(kind="index")})
    with st.sidebar:
        jobs.sidebar(info, {str(c.directory): c.name for c in infos}, learning.status_line if indexed else None)
    if indexed:
        with state.guard("Reading the class folders"):
            learning.folder_question(info)
        with state.guard("Reading who changed your labels"):
            signin.changed_by_others(info)
    state.show_flash()
    with state.guard(f"The {nav.title} page"):
        nav.run()


with jobs.runner().page_running():  # background jobs hold back while a page runs: clicks answer first
    main()
