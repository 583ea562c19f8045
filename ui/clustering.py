"""Cluster views: titles, clickable tiles of typical images and outliers, the full-width browser, exports."""

from __future__ import annotations

import base64
import io
from typing import Callable, Sequence

import streamlit as st

from revsearch import audit, card, clusters, export, thumbnails
from revsearch.auth import guarded
from revsearch.labels import Suggestion
from revsearch.clusters import Cluster
from revsearch.search import Hit
from revsearch.workspace import CollectionInfo
from ui import access, detail, display, results, state


def title(c: Cluster) -> str:
    return f"{c.id} · {c.name}" if c.name else f"Cluster {c.id}"


def ago(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    if seconds < 129600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


NAME_PROBLEM = "cluster_name_problem"  # session_state: the cluster whose "Name & label" had no name to give


def name_cluster(info: CollectionInfo, c: Cluster, name_key: str) -> None:
    """Button callback: name the cluster with the text under `name_key` (empty: take its name away). The labels
    are written before the page runs again, so a click costs one run of the page; suggestions follow in the
    background."""
    name = str(st.session_state.get(name_key) or "").strip()
    if not name and not c.name:
        st.session_state[NAME_PROBLEM] = c.id
        return
    with state.guard("Naming the cluster"):
        changed = guarded.name_cluster(access.actor(), state.collection(info), c.id, name or None)
        state.flash(f"Cluster {c.id} is now “{name}”; {changed} images labelled" if name
                    else f"Cluster {c.id} has no name now")


def name_problem(c: Cluster) -> None:
    """Under the cluster's name box: "Name & label" was pressed with nothing typed (once)."""
    if st.session_state.get(NAME_PROBLEM) == c.id:
        del st.session_state[NAME_PROBLEM]
        st.warning("Type or pick a label first.")


def tiles(info: CollectionInfo, c: Cluster, per_row: int = 4) -> None:
    """The cluster's most typical images, then its outliers (outlined in red); each opens the detail view.
    Thumbnails are made for these tiles only."""
    coll = state.collection(info)
    members = [(m, False) for m in c.representatives] + [(m, True) for m in c.outliers]
    thumbs = thumbnails.thumbnails(coll, [m.id for m, _ in members], display.THUMB)
    grid = st.container(key=f"grid_cluster_tiles_{c.id}")
    for start in range(0, len(members), per_row):
        cols = grid.columns(per_row, gap="small")
        for col, (m, outlier) in zip(cols, members[start : start + per_row]):
            with col.container(key=f"{'outlier' if outlier else 'typical'}_{c.id}_{m.id}", gap=None):
                if m.id in thumbs:
                    st.image(thumbs[m.id], width="stretch")
                # a small cluster's member can be both typical and an outlier: one key each
                detail.detail_button(info, m.id, key=f"cluster_tile_{c.id}_{m.id}{'_outlier' if outlier else ''}",
                                     score=m.similarity,
                                     label="outlier" if outlier else f"{m.similarity:.2f}")


def browse(info: CollectionInfo, c: Cluster, limit: int = 120) -> None:
    """The members of a cluster closest to its centre (the first `limit`), full width, with "More like this" and
    details; only those are read with their paths."""
    members = clusters.members(state.collection(info), c.id, limit=limit)
    hits = [Hit(m.id, m.path, m.similarity) for m in members]
    results.results_grid(info, hits, key=f"cluster_{c.id}", columns=6, show_rank=False, switch=True)
    if c.size > limit:
        st.caption(f"… and {c.size - limit:,} more, farthest from the centre.")
    st.caption("Scores are similarity to the cluster's centre.")


def export_buttons(info: CollectionInfo, unlabelled: bool) -> None:
    """ImageFolder zip (with the dataset card), CSV, JSON (the card inside) and the card alone; each file is made only
    when its button is clicked."""
    coll = state.collection(info)
    stem = info.slug
    checked = audit.card_section(coll)  # the Check page's last counts go into the dataset card
    who = access.later()  # the files are made on the click, outside this run: the session is checked then

    def zip_bytes() -> bytes:
        return guarded.export_zip(who(), coll, unlabelled="folder" if unlabelled else "skip", audit=checked)

    def table(fmt: str) -> Callable[[], bytes]:
        def made() -> bytes:
            buf = io.StringIO()
            guarded.export_table(who(), coll, fmt, buf, include_unlabelled=unlabelled, audit=checked)
            return buf.getvalue().encode("utf-8")
        return made

    def card_bytes() -> bytes:
        return card.render_readme(guarded.dataset_card(who(), coll, include_unlabelled=unlabelled,
                                                          audit=checked)).encode("utf-8")

    unreadable = export.unreadable_originals(coll, include_unlabelled=unlabelled)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else "")
        st.warning(f"{len(unreadable)} original(s) cannot be read now and would be left out of the ImageFolder zip: "
                   f"{shown}. Reconnect the drive or fix their permissions first.", icon=":material/warning:")
    cols = st.columns(4)
    cols[0].download_button("ImageFolder (.zip)", zip_bytes, file_name=f"{stem}-imagefolder.zip",
                            mime="application/zip", icon=":material/folder_zip:", width="stretch",
                            on_click="ignore", key="export_zip")
    cols[1].download_button("Labels (.csv)", table("csv"), file_name=f"{stem}-labels.csv", mime="text/csv",
                            icon=":material/table:", width="stretch", on_click="ignore", key="export_csv")
    cols[2].download_button("Labels (.json)", table("json"), file_name=f"{stem}-labels.json",
                            mime="application/json", icon=":material/data_object:", width="stretch",
                            on_click="ignore", key="export_json")
    cols[3].download_button("Dataset card (.md)", card_bytes, file_name=f"{stem}-README.md", mime="text/markdown",
                            icon=":material/description:", width="stretch", on_click="ignore", key="export_card")


TABLE_ROWS = 100  # suggestions shown (most confident first), each with a small thumbnail
TABLE_THUMB = 96  # a size made at indexing time (hover previews), so the table decodes no original


def suggestion_table(info: CollectionInfo, suggestions: Sequence[Suggestion]) -> None:
    """The most confident suggestions as a table with a thumbnail per image, so a wrong one is seen at a glance."""
    shown = list(suggestions[:TABLE_ROWS])
    thumbs = thumbnails.thumbnails(state.collection(info), [s.id for s in shown], TABLE_THUMB)
    rows = [{"image": _data_url(thumbs.get(s.id)), "file": s.path.rsplit("/", 1)[-1], "suggested label": s.label,
             "confidence": round(s.confidence, 3), "nearest with that label": round(s.similarity, 3)} for s in shown]
    st.dataframe(rows, hide_index=True, width="stretch", height=300, row_height=64, key="suggestion_table",
                 column_config={"image": st.column_config.ImageColumn("image", width="small")})
    if len(suggestions) > TABLE_ROWS:
        st.caption(f"The {TABLE_ROWS} most confident of {len(suggestions)} suggestions are listed.")


def _data_url(jpeg: bytes | None) -> str | None:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii") if jpeg else None
