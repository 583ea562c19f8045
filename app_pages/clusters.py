"""Clusters: montages of each group, name / merge / re-cluster, accept label suggestions, export the dataset."""

from __future__ import annotations

import time

import streamlit as st

from revsearch import evaluate, labels, learned
from revsearch.auth import guarded
from revsearch.jobs import DONE
from ui import access, dataset, display, jobs, labelling, learning, state, undo
from ui import clustering as ui_clusters
from ui.access import Permission

info, coll = state.page_collection("Clusters", "Nothing to group yet")
n_images = coll.counts()["indexed"]
current = state.clustering(info)
SHOWN = 20  # clusters drawn before "Show all": 8 tiles each, and a thumbnail is made for each tile drawn

# ------------------------------------------------------------------------------------------ toolbar
tool_recluster, tool_merge, tool_labels = st.columns(3)
can_label = access.can(Permission.LABEL)
if can_label:
    with tool_recluster.popover("Re-cluster", icon=":material/refresh:", width="stretch"):
        if n_images < 2:
            st.caption("Needs at least 2 images.")
        else:
            scored = jobs.latest(info, "suggest_k")  # the newest scoring of k, whichever tab asked for it
            if scored is not None and scored.state == DONE and scored.result:
                st.session_state[f"suggest_{info.slug}"] = {"best": scored.result["best"],
                                                            "scores": {int(k): v for k, v in scored.result["scores"]}}
            suggestion = st.session_state.get(f"suggest_{info.slug}")
            default_k = suggestion["best"] if suggestion else (current.k if current else min(8, n_images))
            k = st.number_input("Number of clusters (k)", 1, min(60, n_images), int(min(default_k, n_images)),
                                key=f"k_{info.slug}_{default_k}")
            busy = jobs.running(info, "recluster") or jobs.running(info, "suggest_k")
            if st.button("Re-cluster with this k", type="primary", key="do_recluster", disabled=bool(busy),
                         help="runs in the background; the page shows the new clusters when it is done"):
                jobs.start(info, "recluster", {"k": int(k)})
                st.rerun()
            if st.button("Suggest a k", key="do_suggest", disabled=bool(busy),
                         help="scores k from 2 to 30 by silhouette on a sample (in the background)"):
                jobs.start(info, "suggest_k")
                st.rerun()
            jobs.progress(info, "recluster")
            jobs.progress(info, "suggest_k")
            for job in (jobs.latest(info, "recluster"), scored):
                jobs.failed(job)
            if suggestion:
                st.markdown(f"Suggested **k = {suggestion['best']}** (highest silhouette; nearby k with a similar "
                            "score may read better).")
                st.bar_chart([{"k": int(k), "silhouette": float(v)} for k, v in sorted(suggestion["scores"].items(),
                                                                                      key=lambda kv: int(kv[0]))],
                             x="k", y="silhouette", sort=False, height=160, x_label="k", y_label="silhouette")

undo.undo_button(coll, key="undo_clusters")

if current is None:
    st.info("This collection has not been grouped yet. Use **Re-cluster** above (pick k or let revsearch suggest "
            "one).")
    st.stop()

choices = {c.id: ui_clusters.title(c) for c in current.clusters}
if can_label:
    with tool_merge.popover("Merge clusters", icon=":material/merge:", width="stretch"):
        with st.form("merge"):
            chosen = st.multiselect("Clusters to merge", list(choices), format_func=choices.get)
            merged_name = st.text_input("Name of the merged cluster (optional: also labels its images)")
            if st.form_submit_button("Merge", type="primary"):
                with state.guard("Merging clusters"):
                    merged = guarded.merge_clusters(access.actor(), coll, chosen, merged_name.strip() or None)
                    state.flash(f"Merged {len(chosen)} clusters into cluster {merged.id} ({merged.size} images)")
                    st.rerun()

counts = labels.label_counts(coll)
with tool_labels.popover(f"Labels ({len(counts)})", icon=":material/label:", width="stretch"):
    if not counts:
        st.caption("No labels yet: name a cluster below, or select images on the Map.")
    else:
        st.dataframe([{"label": k, "images": v} for k, v in counts.items()], hide_index=True, width="stretch")
        if st.button("Measure label quality", key="label_quality",
                     help="leave-one-out search over the labelled images: does each one find its own label?"):
            with state.guard("Measuring label quality"):
                quality = evaluate.label_quality(coll)
                if quality is None:
                    st.caption("Needs at least two labels with two images each.")
                else:
                    st.caption(f"Over {quality['queries']} labelled images: mAP **{quality['mAP']:.2f}** · "
                               f"P@1 **{quality['P@1']:.2f}**" + (f" · P@10 **{quality['P@10']:.2f}**"
                                                                  if "P@10" in quality else ""))
        if can_label:
            with st.form("rename_label"):
                old = st.selectbox("Rename label", list(counts))
                new = st.text_input("New name (an existing label merges the two)")
                if st.form_submit_button("Rename"):
                    with state.guard("Renaming the label"):
                        n = guarded.rename_label(access.actor(), coll, old, new)
                        state.flash(f"Renamed “{old}” to “{new.strip()}” on {n} images")
                        st.rerun()

age = time.time() - current.created_at
st.caption(f"**{len(current.clusters)} clusters** of {n_images} images (k = {current.k}, made "
           f"{ui_clusters.ago(age)}). Each shows the images closest to its centre, then its outliers (outlined in "
           "red). Cohesion is the mean similarity of the members to the centre (higher = tighter). Naming a cluster "
           "labels its images that have no label set by hand.")

# ------------------------------------------------------------------------------------------ the clusters
browsing = st.session_state.get("browse_cluster")
shown = [c for c in current.clusters if c.id == browsing] or current.clusters
every = f"all_clusters_{info.slug}"
hidden = shown[SHOWN:] if len(shown) > SHOWN and not st.session_state.get(every) else []
shown = shown[: len(shown) - len(hidden)]
per_row = 1 if len(shown) == 1 and browsing is not None else 2
for start in range(0, len(shown), per_row):
    cols = st.columns(per_row, gap="medium")
    for col, c in zip(cols, shown[start : start + per_row]):
        with col.container(border=True):
            st.markdown(f"#### {display.md_escape(ui_clusters.title(c))}")
            st.caption(f"**{c.size}** image{'s' if c.size != 1 else ''} · cohesion **{c.cohesion:.2f}**"
                       + (f" · {len(c.outliers)} outliers outlined in red" if c.outliers else "")
                       + " · click an image's button for its details")
            is_open = browsing == c.id
            with state.guard(f"Drawing cluster {c.id}"):
                if is_open:
                    ui_clusters.browse(info, c)
                else:
                    ui_clusters.tiles(info, c)
            if st.button("Back to all clusters" if is_open else f"Browse all {c.size} images", type="tertiary",
                         icon=":material/grid_view:", key=f"browse_{c.id}"):
                st.session_state["browse_cluster"] = None if is_open else c.id
                st.rerun()
            if can_label:
                with st.form(f"name_{c.id}", border=False):
                    row = st.columns([3, 1.3], vertical_alignment="bottom")
                    row[0].text_input("Name", value=c.name or "", key=f"name_input_{c.id}_{c.name}",
                                      placeholder=labelling.placeholder(list(counts)), label_visibility="collapsed")
                    row[1].form_submit_button("Name & label", width="stretch", on_click=ui_clusters.name_cluster,
                                              args=(info, c, f"name_input_{c.id}_{c.name}"))
                ui_clusters.name_problem(c)

if hidden:
    st.caption(f"The {len(shown)} largest clusters are shown; {len(hidden)} smaller ones "
               f"({sum(c.size for c in hidden):,} images) are not drawn yet.")
    if st.button(f"Show all {len(current.clusters)} clusters", icon=":material/unfold_more:", key="show_all_clusters"):
        st.session_state[every] = True
        st.rerun()

# ------------------------------------------------------------------------------------------ suggestions
if not can_label:
    st.stop()  # the rest of the page (suggestions, export) is for labelling
st.divider()
st.subheader("Label suggestions")
learn_cols = st.columns([1.2, 1, 2.5], vertical_alignment="center")
learning.improve_button(info, key="improve_clusters", where=learn_cols[0])
learn_cols[1].page_link("app_pages/label_next.py", label="Label next", icon=":material/task_alt:",
                        help="answer the images that teach revsearch the most, page by page")
with state.guard("Suggesting labels"):
    ready = labels.ready_suggestions(coll)  # computed by the "learn" job: the page never waits for them
    if (ready is None or not ready[1]) and counts:
        jobs.start(info, "learn")
    suggestions = ready[0] if ready is not None else []
    if not counts:
        st.caption("Label some images first (name a cluster, or label a selection on the Map); the unlabelled "
                   "images then get suggestions from their labelled neighbours.")
    elif ready is None:
        jobs.progress(info, "learn")
        st.caption("Working out the suggestions in the background…")
    elif not suggestions:
        unlabelled = labels.unlabelled_count(coll)
        if not unlabelled:
            st.caption("Every image has a label.")
        else:
            st.caption(f"None of the {unlabelled} unlabelled images is a confident match for your labels yet: label "
                       "a few more of each kind (Label next asks for the ones that teach the most), or give each its "
                       "best guess now.")
            which = (f"all {unlabelled}" if unlabelled <= learned.LABEL_SET_LIMIT
                     else f"a sample of {learned.LABEL_SET_LIMIT:,}")  # suggestions cover a sample past that
            if st.button(f"Label {which} with their best guess", icon=":material/done_all:", key="accept_best_guess"):
                n = guarded.accept_suggestions(access.actor(), coll, 0.0)
                state.flash(f"Labelled {n} images with their best guess (undo restores them)")
                st.rerun()
    else:
        if not ready[1]:
            st.caption(":material/sync: Your latest labels are being learned in the background: these suggestions "
                       "are from before them (images labelled since are left out) and update when it is done.")
        threshold = st.slider("Accept suggestions with confidence at least", 0.0, 1.0, 0.8, 0.01,
                              key="suggest_threshold")
        sure = [s for s in suggestions if s.confidence >= threshold]
        ui_clusters.suggestion_table(info, suggestions)
        if st.button(f"Accept {len(sure)} suggestion{'s' if len(sure) != 1 else ''}", type="primary",
                     disabled=not sure, icon=":material/done_all:"):
            n = guarded.accept_suggestions(access.actor(), coll, threshold, suggestions=suggestions)
            state.flash(f"Accepted {n} label suggestions")
            st.rerun()
        st.caption(f"{len(suggestions)} unlabelled images have a suggestion; {len(sure)} reach the threshold.")

# ------------------------------------------------------------------------------------------ export
if not access.can(Permission.EXPORT):
    st.stop()
st.divider()
st.subheader("Export the labelled dataset")
with state.guard("Reading the split"):
    dataset.split_panel(info)
st.caption("Originals are only read, never moved or changed. The ImageFolder zip holds `<split>/<label>/<file>` "
           "(`<label>/<file>` without a split), labels.csv and the dataset card (README.md, dataset.json).")
unlabelled = st.toggle("Include unlabelled images (in `_unlabelled/`, and as empty labels in CSV / JSON)",
                       value=False, key="export_unlabelled")
ui_clusters.export_buttons(info, unlabelled)
