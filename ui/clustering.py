"""Cluster views: titles, cached montages, and the export downloads."""

from __future__ import annotations

import io

import streamlit as st

from revsearch import clusters, export, montage
from revsearch.clusters import Cluster
from revsearch.search import Hit
from revsearch.workspace import CollectionInfo
from ui import explore, state, views


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


@st.cache_data(show_spinner=False, max_entries=256)
def _montage(directory: str, key: str, cluster_id: int, _info: CollectionInfo) -> bytes:
    image = montage.cluster_montage(state.collection(_info), cluster_id, n=8, cols=4, tile=100, outliers=4)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def montage_jpeg(info: CollectionInfo, cluster_id: int) -> bytes:
    """Representatives then outliers of one cluster; recomputed only when the collection or clusters change."""
    return _montage(str(info.directory), explore.state_key(info), cluster_id, info)


def browse(info: CollectionInfo, cluster_id: int, limit: int = 60) -> None:
    """Every member of a cluster (closest to the centre first) with "More like this" under each."""
    members = clusters.members(state.collection(info), cluster_id)
    hits = [Hit(m.id, m.path, m.similarity) for m in members[:limit]]
    views.results_grid(info, hits, key=f"cluster_{cluster_id}", columns=4, show_rank=False, switch=True)
    if len(members) > limit:
        st.caption(f"… and {len(members) - limit} more, farthest from the centre.")
    st.caption("Scores are similarity to the cluster's centre.")


def export_buttons(info: CollectionInfo, unlabelled: bool) -> None:
    """ImageFolder zip, CSV and JSON downloads; each file is made only when its button is clicked."""
    coll = state.collection(info)
    stem = info.slug

    def zip_bytes() -> bytes:
        return export.export_zip(coll, unlabelled="folder" if unlabelled else "skip")[0]

    def csv_bytes() -> bytes:
        buf = io.StringIO()
        export.export_csv(coll, buf, include_unlabelled=unlabelled)
        return buf.getvalue().encode("utf-8")

    def json_bytes() -> bytes:
        buf = io.StringIO()
        export.export_json(coll, buf, include_unlabelled=unlabelled)
        return buf.getvalue().encode("utf-8")

    unreadable = export.unreadable_originals(coll, include_unlabelled=unlabelled)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else "")
        st.warning(f"{len(unreadable)} original(s) cannot be read now and would be left out of the ImageFolder zip: "
                   f"{shown}. Reconnect the drive or fix their permissions first.", icon=":material/warning:")
    cols = st.columns(3)
    cols[0].download_button("ImageFolder (.zip)", zip_bytes, file_name=f"{stem}-imagefolder.zip",
                            mime="application/zip", icon=":material/folder_zip:", width="stretch",
                            on_click="ignore", key="export_zip")
    cols[1].download_button("Labels (.csv)", csv_bytes, file_name=f"{stem}-labels.csv", mime="text/csv",
                            icon=":material/table:", width="stretch", on_click="ignore", key="export_csv")
    cols[2].download_button("Labels (.json)", json_bytes, file_name=f"{stem}-labels.json",
                            mime="application/json", icon=":material/data_object:", width="stretch",
                            on_click="ignore", key="export_json")
