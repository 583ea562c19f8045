"""The dataset before it leaves: the train / val / test split (make it, see its counts) and what exports leave out.

Thin over revsearch.splits and revsearch.exclusions: counts are read once per (split, labels, exclusions, vectors)
version for the whole server, so the page reruns cheaply on a million images.
"""

from __future__ import annotations

import streamlit as st

from revsearch import exclusions, labels, splits
from revsearch.auth import guarded
from revsearch.workspace import CollectionInfo
from ui import access, state, widgets


@st.cache_resource(show_spinner=False, max_entries=8)
def _summary(directory: str, versions: tuple[str, ...], _info: CollectionInfo) -> splits.Summary:
    return splits.summary(state.collection(_info))


def summary(info: CollectionInfo) -> splits.Summary:
    coll = state.collection(info)
    versions = (splits.version(coll), labels.version(coll), exclusions.version(coll), str(coll.generation))
    return _summary(str(coll.directory), versions, info)


def split_panel(info: CollectionInfo) -> None:
    """The split's counts per class, and a form to make (or re-make) it."""
    coll = state.collection(info)
    current = splits.settings(coll)
    counts = summary(info)
    if current is None:
        st.caption("No train / val / test split yet: exports use `<label>/<file>`. A split keeps near-copies and exact "
                   "copies of a photo together (no leak between train and test) and every class close to the ratios.")
    else:
        ratios = " / ".join(f"{name} {100 * r:g} %" for name, r in zip(current.names, current.ratios))
        st.caption(f"Split {ratios} (seed {current.seed}): exports use `<split>/<label>/<file>` and a `split` column."
                   + (f" {counts.unassigned:,} images added since get a split with the next export (or below)."
                      if counts.unassigned else ""))
        st.dataframe(_table(counts), hide_index=True, width="stretch", key="split_table")
    excluded = exclusions.count(coll)
    if excluded:
        st.caption(f"{excluded:,} image{'s are' if excluded != 1 else ' is'} excluded: left out of every export and "
                   "listed with the reason in its dataset card.")
    with st.form("split_form", border=False):
        cols = st.columns([1, 1, 1, 1, 1.6], vertical_alignment="bottom")
        shown = current.ratios if current is not None and len(current.ratios) == 3 else (0.8, 0.1, 0.1)
        train = cols[0].number_input("train %", 1, 100, round(100 * shown[0]), key="split_train")
        val = cols[1].number_input("val %", 0, 99, round(100 * shown[1]), key="split_val")
        test = cols[2].number_input("test %", 0, 99, round(100 * shown[2]), key="split_test")
        seed = cols[3].number_input("seed", 0, 2**31 - 1, current.seed if current else 0, key="split_seed")
        again = current is not None
        sure = again and st.checkbox("Assign every image anew (earlier images may change split; images added since "
                                     "the split get one with the next export without this)", key="split_again")
        label = "Re-split everything" if again else "Make the split"
        if cols[4].form_submit_button(label, type="secondary" if again else "primary", width="stretch"):
            if again and not sure:
                st.warning("Tick “Assign every image anew” to re-split: a model trained on the current split would "
                           "then meet some of its training images in val or test.", icon=":material/warning:")
            else:
                _make(info, (float(train), float(val), float(test)), int(seed), again)


def _make(info: CollectionInfo, ratios: tuple[float, float, float], seed: int, again: bool) -> None:
    with state.guard("Making the split"):
        update, clear = widgets.steps("Splitting")
        rep = guarded.make_split(access.actor(), state.collection(info), ratios, seed, again, progress=update)
        clear()
        leaks = rep.leaks["total"]
        state.flash(f"Split {rep.assigned:,} images; {rep.groups['kept_together']:,} groups of copies kept together, "
                    f"{leaks} leak{'s' if leaks != 1 else ''}, every class within "
                    f"{max(rep.summary.deviation(rep.settings.ratios).values(), default=0):.1f} points of the ratios")
        st.rerun()


def _table(counts: splits.Summary) -> list[dict]:
    rows = [{"class": label, **by_split, "total": sum(by_split.values())}
            for label, by_split in counts.per_class.items()]
    if any(counts.unlabelled.values()):
        rows.append({"class": "(unlabelled)", **counts.unlabelled, "total": sum(counts.unlabelled.values())})
    rows.append({"class": "all", **counts.per_split, "total": sum(counts.per_split.values())})
    return rows
