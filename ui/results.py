"""Search results on the page: the grid (thumbnail, rank, score, cluster, label, "more like this", details), the
examples strip, and the downloads (CSV of the results, a montage PNG of the query with them)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import streamlit as st

from revsearch import clusters, montage, thumbnails
from revsearch.search import Hit
from revsearch.workspace import CollectionInfo
from ui import detail, feedback, maps, state
from ui.display import THUMB, md_escape, short
from ui.labelling import image_facts
from ui.queries import Query, more_like_this_button


def results_grid(info: CollectionInfo, hits: Sequence[Hit], key: str, columns: int = 6,
                 show_rank: bool = True, show_score: bool = True, switch: bool = False,
                 exact: set[int] = frozenset(),  # type: ignore[assignment]
                 feedback_query: str | None = None, similarity: dict[int, float] | None = None) -> None:
    """Thumbnails with rank, score, file name, cluster and label, and "more like this" under each; with
    `feedback_query`, thumbs up / down that refine that query; with `similarity` (after feedback) the scores are
    adjusted scores, said so, with each result's plain similarity under it."""
    coll = state.collection(info)
    ids = [h.id for h in hits]
    thumbs = thumbnails.thumbnails(coll, ids, THUMB)
    cluster_of, label_of = image_facts(info, ids)
    names = maps.cluster_names(info)
    grid = st.container(key=f"grid_{key}")  # the "grid_" key prefix gets square, letterboxed thumbnails (CSS)
    for start in range(0, len(hits), columns):
        cols = grid.columns(columns)
        for col, rank, hit in zip(cols, range(start + 1, start + columns + 1), hits[start : start + columns]):
            with col.container(border=True):
                if hit.id in thumbs:
                    st.image(thumbs[hit.id], width="stretch")
                else:
                    st.caption("(image unavailable)")
                name = Path(hit.path).name
                head = f"**#{rank}** · {hit.score:.3f}" if show_rank else (f"{hit.score:.3f}" if show_score else "")
                if head:
                    st.markdown(head)
                if similarity is not None and hit.id in similarity:  # the score above is the adjusted one
                    st.caption(f"adjusted · similarity {similarity[hit.id]:.3f}", help=feedback.EXPLAIN)
                if hit.id in exact:  # green text, not a badge: a badge is cut short in a narrow card, text wraps
                    st.caption(f":green[:material/verified: **{detail.EXACT_BADGE}**]")
                st.caption(md_escape(short(name, 24)))
                facts = []
                if hit.id in cluster_of:
                    facts.append(md_escape(names.get(cluster_of[hit.id], f"cluster {cluster_of[hit.id]}")))
                facts.append(f":material/label: **{md_escape(label_of[hit.id])}**" if hit.id in label_of
                             else "unlabelled")
                st.caption("  \n".join(facts))
                if feedback_query is not None:
                    feedback.thumbs(feedback_query, hit.id, key=f"{key}_fb_{hit.id}_{rank}")
                more_like_this_button(hit.id, name, key=f"{key}_mlt_{hit.id}_{rank}", switch=switch)
                plain = similarity.get(hit.id) if similarity is not None else hit.score
                detail.detail_button(info, hit.id, key=f"{key}_detail_{hit.id}_{rank}",
                                     score=plain if show_score else None, exact=hit.id in exact)


def examples(info: CollectionInfo, n: int = 12) -> None:
    """A strip of varied images of the collection (one per cluster when clustered) to start a search from."""
    coll = state.collection(info)
    ids = clusters.typical(coll, n) or [r.id for r in coll.rows("indexed", limit=n)]  # varied first
    paths = coll.paths(ids)
    hits = [Hit(i, paths[i], 1.0) for i in ids if i in paths]
    results_grid(info, hits, key="examples", show_rank=False, show_score=False)


def results_csv(info: CollectionInfo, hits: Sequence[Hit]) -> bytes:
    cluster_of, label_of = image_facts(info, [h.id for h in hits])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["rank", "score", "file", "path", "cluster", "label"])
    for rank, hit in enumerate(hits, 1):
        writer.writerow([rank, f"{hit.score:.6f}", Path(hit.path).name, hit.path, cluster_of.get(hit.id, ""),
                         label_of.get(hit.id, "")])
    return buf.getvalue().encode()


@st.cache_data(show_spinner="Drawing the montage…", max_entries=16)
def _montage_png(directory: str, generation: int, query_key: str, ids: tuple[int, ...], _info: CollectionInfo,
                 _query: Query, _hits: tuple[Hit, ...]) -> bytes:
    coll = state.collection(_info)
    row = coll.get(_query.image_id) if _query.image_id is not None else None
    source = _query.data if _query.data is not None else (row.path if row else b"")
    title = f"revsearch: {_query.name} in {_info.name}"
    return montage.png_bytes(montage.query_montage(coll, source, list(_hits), cols=min(6, len(_hits) + 1),
                                                   title=title))


def results_montage(info: CollectionInfo, query: Query, hits: Sequence[Hit]) -> None:
    """The query and its results in one picture (rank and score under each), downloadable as PNG."""
    coll = state.collection(info)
    png = _montage_png(str(info.directory), coll.generation, query.key, tuple(h.id for h in hits), info, query,
                       tuple(hits))
    st.download_button("Download montage (PNG)", png, file_name=f"revsearch-{_stem(query)}.png", mime="image/png",
                       icon=":material/download:", on_click="ignore", key="download_montage")
    st.image(png, width="content")


def results_csv_button(info: CollectionInfo, query: Query, hits: Sequence[Hit]) -> None:
    st.download_button("Download results (CSV)", results_csv(info, hits), file_name=f"revsearch-{_stem(query)}.csv",
                       mime="text/csv", icon=":material/table:", on_click="ignore", key="download_results_csv")


def _stem(query: Query) -> str:
    return Path(query.name).stem.replace(" ", "-") or "query"
