"""What the Check page draws: each label issue beside typical images of its label and of the suggested one, with one
click per action; the quality grid filtered by issue; the overlap pairs. Every action goes through the engine's public
functions, through revsearch.auth.guarded (the role is checked again on every click, and a fix records who made
it): label fixes (undone by the page's Undo like any labelling action), confirmations and exclusions (each with an
Undo of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import streamlit as st

from revsearch import exclusions, images, thumbnails
from revsearch.audit import AuditReport, LabelIssue, Overlap, QualityIssue
from revsearch.workspace import CollectionInfo
from revsearch.auth import guarded
from ui import access, detail, state
from ui.display import THUMB, md_escape, short

PER_PAGE = 6  # label issues per page
TYPICAL = 3  # typical images shown per label
GRID = 6  # quality issues per row
SHOWN = 24  # quality issues (and overlap pairs) drawn at first; "Show more" adds as many again
CONFIRMED = "check_confirmed"  # session_state: ids the person confirmed last (for its undo)


# ---------------------------------------------------------------------------------------------------- labels


def label_issues(info: CollectionInfo, found: AuditReport) -> None:
    coll = state.collection(info)
    if not found.labelled:
        st.info("No labels yet: label images (Map, Clusters, Label next) and they are checked here.")
        return
    if not found.label_issues:
        st.success(f"No label looks wrong among the {found.labels_checked:,} checked.", icon=":material/check_circle:")
    typical = {c.label: c.typical for c in found.classes}
    names = [c.label for c in found.classes]
    which = st.selectbox("Label", ["every label", *names], key="check_label_filter",
                         format_func=lambda n: n if n == "every label" else f"{n}")
    issues = [i for i in found.label_issues if which == "every label" or i.label == which]
    pages = max(1, -(-len(issues) // PER_PAGE))
    page = min(st.session_state.get("check_page", 0), pages - 1)
    shown = issues[page * PER_PAGE : (page + 1) * PER_PAGE]
    if shown and st.button(f"Take every suggestion on this page ({len(shown)})", type="primary",
                           icon=":material/done_all:", key="check_take_page"):
        _relabel(info, {i.id: i.suggested for i in shown})
    ids = [i.id for i in shown] + [t for i in shown for t in (typical.get(i.label, [])[:TYPICAL]
                                                              + typical.get(i.suggested, [])[:TYPICAL])]
    thumbs = thumbnails.thumbnails(coll, ids, THUMB)
    for issue in shown:
        _issue_card(info, issue, typical, names, thumbs)
    if pages > 1:
        left, mid, right = st.columns([1, 2, 1], vertical_alignment="center")
        if left.button("Previous", key="check_prev", disabled=page == 0, icon=":material/chevron_left:"):
            st.session_state["check_page"] = page - 1
            st.rerun()
        mid.caption(f"Page {page + 1} of {pages} · {len(issues)} label issues, most likely wrong first")
        if right.button("Next", key="check_next", disabled=page >= pages - 1, icon=":material/chevron_right:"):
            st.session_state["check_page"] = page + 1
            st.rerun()


def _issue_card(info: CollectionInfo, issue: LabelIssue, typical: dict[str, list[int]], names: Sequence[str],
                thumbs: dict[int, bytes]) -> None:
    with st.container(border=True, key=f"grid_issue_{issue.id}"):
        cols = st.columns([1.1, 2, 2, 1.3])
        with cols[0]:
            if issue.id in thumbs:
                st.image(thumbs[issue.id], width="stretch")
            st.caption(f"{md_escape(short(Path(issue.path).name))}  \nlabelled **{md_escape(issue.label)}** "
                       f"({issue.source}) · {issue.score:.0%} likely wrong", help=issue.path)
            detail.detail_button(info, issue.id, key=f"check_detail_{issue.id}")
        for col, label, what in ((cols[1], issue.label, "Given"), (cols[2], issue.suggested, "Suggested")):
            with col:
                st.markdown(f"{what}: **{md_escape(label)}** — typical images")
                row = st.columns(TYPICAL)
                for cell, image_id in zip(row, typical.get(label, [])[:TYPICAL]):
                    if image_id in thumbs:
                        cell.image(thumbs[image_id], width="stretch")
        with cols[3]:
            if st.button(f"Take “{short(issue.suggested, 16)}”", key=f"check_take_{issue.id}", type="primary",
                         width="stretch", help=f"label it {issue.suggested}"):
                _relabel(info, {issue.id: issue.suggested})
            key = f"check_other_{issue.id}"
            st.selectbox("Choose another", [n for n in names if n != issue.label], index=None, key=key,
                         placeholder="choose another…", label_visibility="collapsed", accept_new_options=True,
                         on_change=_chosen, args=(info, issue.id, key), help="label it with another label")
            if st.button("Label is right", key=f"check_confirm_{issue.id}", width="stretch",
                         icon=":material/verified:", help="remembered: this label is not reported again"):
                _confirm(info, [issue.id])
            exclude_button(info, [issue.id], f"audit: labelled {issue.label}, looks like {issue.suggested}",
                           key=f"check_exclude_{issue.id}")


def _relabel(info: CollectionInfo, assignments: dict[int, str]) -> None:
    with state.guard("Relabelling"):
        changed = guarded.label_each(access.actor(), state.collection(info), assignments)
        state.flash(f"Relabelled {changed} image{'s' if changed != 1 else ''}")
        st.rerun()


def _chosen(info: CollectionInfo, image_id: int, key: str) -> None:
    """The "choose another" box changed: label the image with the label picked (a callback: the box is emptied)."""
    label = st.session_state.pop(key, None)
    if label:
        with state.guard("Relabelling"):
            guarded.label_each(access.actor(), state.collection(info), {image_id: label})
            state.flash(f"Labelled it {label}")


def _confirm(info: CollectionInfo, ids: list[int]) -> None:
    with state.guard("Confirming"):
        guarded.confirm_labels(access.actor(), state.collection(info), ids)
        st.session_state[CONFIRMED] = ids
        state.flash(f"Confirmed {len(ids)} label{'s' if len(ids) != 1 else ''}: not reported again")
        st.rerun()


def exclude_button(info: CollectionInfo, ids: Sequence[int], reason: str, key: str, label: str = "Exclude") -> None:
    """Leave images out of every export (they stay in the collection), with `reason` on the dataset card."""
    if st.button(label, key=key, icon=":material/block:", type="tertiary", width="stretch",
                 help=f"leave out of exports ({reason}); undo takes it back"):
        with state.guard("Excluding"):
            n = guarded.exclude(access.actor(), state.collection(info), ids, reason)
            state.flash(f"Excluded {n} image{'s' if n != 1 else ''} from exports")
            st.rerun()


def undo_exclusion(info: CollectionInfo) -> None:
    """"Undo: <the newest exclude / include>", while there is one."""
    coll = state.collection(info)
    last = exclusions.last_action(coll)
    if last is not None and st.button(f"Undo: {last.description}", key="check_unexclude", icon=":material/undo:",
                                      type="tertiary"):
        with state.guard("Undoing"):
            guarded.undo_exclusion(access.actor(), coll, last.id)
            state.flash(f"Undid “{last.description}”")
            st.rerun()


def undo_confirm(info: CollectionInfo) -> None:
    """"Undo: confirmed N labels" after a confirmation in this session."""
    ids = st.session_state.get(CONFIRMED)
    if ids and st.button(f"Undo: confirmed {len(ids)} label{'s' if len(ids) != 1 else ''}", key="check_unconfirm",
                         icon=":material/undo:", type="tertiary"):
        with state.guard("Undoing"):
            guarded.unconfirm_labels(access.actor(), state.collection(info), ids)
            st.session_state.pop(CONFIRMED, None)
            state.flash("Confirmation taken back: the label may be reported again")
            st.rerun()


# ---------------------------------------------------------------------------------------------------- quality


def quality_issues(info: CollectionInfo, found: AuditReport) -> None:
    counts = {k: v for k, v in found.issue_counts().items() if k != "label"}
    if not counts:
        st.success("No image has a quality problem.", icon=":material/check_circle:")
        return
    wanted = st.multiselect("Issues", list(counts), default=list(counts), key="check_issue_filter",
                            format_func=lambda k: f"{k.replace('_', ' ')} ({counts[k]})")
    issues = [q for q in found.quality_issues if set(q.issues) & set(wanted)]
    limit = st.session_state.get("check_quality_shown", SHOWN)
    thumbs = thumbnails.thumbnails(state.collection(info), [q.id for q in issues[:limit]], THUMB)
    grid = st.container(key="grid_quality")
    for start in range(0, min(limit, len(issues)), GRID):
        for col, q in zip(grid.columns(GRID), issues[start : min(start + GRID, limit)]):
            with col:
                if q.id in thumbs:
                    st.image(thumbs[q.id], width="stretch")
                st.caption(f"**{', '.join(n.replace('_', ' ') for n in q.issues)}**  \n"
                           f"{md_escape(short(Path(q.path).name, 22))}  \n{_facts(q)}", help=q.path)
                detail.detail_button(info, q.id, key=f"check_qdetail_{q.id}")
                exclude_button(info, [q.id], "audit: " + ", ".join(n.replace("_", " ") for n in q.issues),
                               key=f"check_qexclude_{q.id}")
    if issues:
        exclude_button(info, [q.id for q in issues], "audit: " + ", ".join(n.replace("_", " ") for n in wanted),
                       key="check_exclude_shown", label=f"Exclude these {len(issues)} images from exports")
    if len(issues) > limit and st.button(f"Show {min(SHOWN, len(issues) - limit)} more", key="check_quality_more",
                                         icon=":material/unfold_more:"):
        st.session_state["check_quality_shown"] = limit + SHOWN
        st.rerun()
    rules = found.rules
    st.caption(f"Thresholds for this collection: blurry from {rules.blur or 0:.2f} (blur measure), tiny under "
               f"{rules.tiny_side or 0:.0f} px, odd aspect from {rules.odd_ratio or 0:.2f}:1, outlier under "
               f"{rules.outlier_similarity or 0:.2f} similarity to its nearest images."
               + "".join(f"  \n{md_escape(n)}" for n in rules.notes))


def _facts(q: QualityIssue) -> str:
    m = q.measures
    parts = [f"{m.get('width', 0)}×{m.get('height', 0)}"]
    if "blurry" in q.issues:
        parts.append(f"blur {m.get('blur', 0):.2f}")
    if {"dark", "light"} & set(q.issues):
        parts.append(f"brightness {m.get('brightness', 0):.2f}")
    if q.match:
        parts.append(f"≈ {md_escape(short(Path(q.match).name, 18))}")
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------------- overlap


@st.cache_data(show_spinner=False, max_entries=512)
def _outside_thumb(path: str, mtime_ns: int) -> bytes | None:
    data = images.thumbnail_bytes(path, THUMB)
    return None if isinstance(data, images.Skip) else data


def overlap_pairs(info: CollectionInfo, pairs: list[Overlap]) -> None:
    if not pairs:
        st.success("No outside image copies an image of this collection.", icon=":material/check_circle:")
        return
    st.markdown(f"**{len(pairs)} outside image{'s' if len(pairs) != 1 else ''}** copy images of this collection "
                "(a test set should share none).")
    inside = thumbnails.thumbnails(state.collection(info), [p.match_id for p in pairs[:SHOWN]], THUMB)
    for n, pair in enumerate(pairs[:SHOWN]):
        with st.container(border=True, key=f"grid_overlap_{n}"):
            left, right, facts = st.columns([1, 1, 2], vertical_alignment="center")
            try:
                outside = _outside_thumb(pair.path, Path(pair.path).stat().st_mtime_ns)
            except OSError:
                outside = None
            if outside:
                left.image(outside, width="stretch")
            if pair.match_id in inside:
                right.image(inside[pair.match_id], width="stretch")
            facts.markdown(f"{'exact copy' if pair.exact else f'similarity {pair.score:.3f}'}  \n"
                           f"outside: {md_escape(short(pair.path, 60))}  \nhere: {md_escape(short(pair.match, 60))}")
    if len(pairs) > SHOWN:
        st.caption(f"Showing {SHOWN} of {len(pairs)}; `revsearch audit --against` lists them all.")
