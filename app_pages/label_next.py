"""Label next: the images whose answers teach the most, with the suggested label; confirm or correct, page by page."""

from __future__ import annotations

import streamlit as st

from revsearch import labels, learned, thumbnails
from revsearch.auth import guarded
from ui import access, display, learning, state, undo
from ui.access import Permission

PER_ROW = 4
SIZES = (12, 16, 24)

info, coll = state.page_collection("Label next", "Nothing to label yet")
access.actor().require(Permission.LABEL)  # the page is not listed for viewers; a stale link is refused too
slug = info.slug
known = labels.label_counts(coll)
n_labelled = sum(known.values())
n_indexed = coll.counts()["indexed"]
answered = st.session_state.get(f"answered_{slug}", 0)

if not known:
    st.markdown("revsearch picks the images whose labels teach it the most. Start here: these images cover the "
                "different kinds of picture in the collection. **Type what each one shows** (a word or two) in "
                "the box under it, or add labels in the box above the images (separated by commas) and pick them; "
                "then press **Confirm this page**. From the next round on, each image comes with a suggested label: "
                "confirm it with one click, or correct it.")
else:
    st.caption("Each round shows the images revsearch is least sure about. Confirm a suggestion (✓), correct it in "
               "the box, or skip the image; **Confirm this page** saves the page as one action (undoable) and "
               "confirms every suggestion you did not correct or skip. After each page search learns from the new "
               "labels in the background.")
st.markdown(f"You've answered **{answered}** image{'s' if answered != 1 else ''} here; **{n_labelled}** labelled, "
            f"**{max(0, n_indexed - n_labelled)}** still unlabelled.")
tools = st.columns([1, 1, 2], vertical_alignment="center")
with tools[0]:
    size = st.selectbox("Images per page", SIZES, key="label_next_size")
with tools[2]:
    undo.undo_button(coll, key="undo_label_next")
learning.improve_button(info, key="improve_label_next", where=tools[1])

ROUND, NUMBER = f"label_next_round_{slug}", f"label_next_number_{slug}"
page = st.session_state.get(ROUND)
if page is None or page["size"] != size:
    with state.guard("Choosing what to label next"), st.spinner("Choosing the images that teach the most…"):
        items = learned.review(coll, int(size), wait=False)  # the newest labels are learned in the background
        page = {"number": st.session_state.get(NUMBER, 0), "size": size, "items": items, "confirmed": [],
                "skipped": []}
        st.session_state[ROUND] = page
if page is None:
    st.stop()
items: list[learned.ReviewItem] = page["items"]
if not items:
    st.success("Every indexed image has a label.", icon=":material/done_all:")
    st.stop()

extra = st.text_input("New label for this page", key=f"new_label_{slug}_{page['number']}",
                      placeholder="add labels, separated by commas (then pick them under the images)",
                      max_chars=labels.MAX_LABEL_CHARS, label_visibility="collapsed")
options = list(dict.fromkeys([*known, *(x.strip() for x in extra.split(",") if x.strip())]))


def fix_key(image_id: int) -> str:
    return f"fix_{slug}_{page['number']}_{image_id}"


def answer(item: learned.ReviewItem) -> str | None:
    """The label this image gets when the page is confirmed (None: left unlabelled)."""
    fixed = st.session_state.get(fix_key(item.id))
    if fixed:
        return str(fixed).strip() or None
    if item.id in page["skipped"]:
        return None
    return item.suggested


def toggle(kind: str, image_id: int) -> None:
    other = "skipped" if kind == "confirmed" else "confirmed"
    if image_id in page[other]:
        page[other].remove(image_id)
    page[kind] = [i for i in page[kind] if i != image_id] if image_id in page[kind] else [*page[kind], image_id]


thumbs = thumbnails.thumbnails(coll, [i.id for i in items], display.THUMB)
grid = st.container(key="grid_label_next")
for start in range(0, len(items), PER_ROW):
    cols = grid.columns(PER_ROW)
    for col, item in zip(cols, items[start : start + PER_ROW]):
        with col.container(border=True, key=f"review_{item.id}"):
            if item.id in thumbs:
                st.image(thumbs[item.id], width="stretch")
            name = item.path.rsplit("/", 1)[-1]
            if item.suggested is not None:
                st.caption(f"suggested **{display.md_escape(item.suggested)}** · {item.confidence:.0%} sure")
            else:
                st.caption("no suggestion yet")
            fixed = st.session_state.get(fix_key(item.id))
            row = st.columns(2)
            if item.suggested is not None and not fixed:
                confirmed = item.id in page["confirmed"]
                row[0].button(f"✓ {item.suggested}", key=f"ok_{slug}_{item.id}", wrap=True,  # never cut short
                              type="primary" if confirmed else "secondary", width="stretch",
                              on_click=toggle, args=("confirmed", item.id),
                              help="confirmed" if confirmed else f"confirm: {item.suggested}")
            skipped = item.id in page["skipped"]
            if item.suggested is not None:
                row[1].button("Skipped" if skipped else "Skip", key=f"skip_{slug}_{item.id}", width="stretch",
                              wrap=True,
                              type="primary" if skipped else "tertiary", on_click=toggle,
                              args=("skipped", item.id), help="leave this image unlabelled")
            st.selectbox("Correct it", options, index=None, key=fix_key(item.id), accept_new_options=True,
                         placeholder="correct it…" if item.suggested else "what is it?",
                         label_visibility="collapsed", help=f"{name}: pick a label, or type a new one")
            verdict = answer(item)
            st.caption(f"→ **{display.md_escape(verdict)}**" if verdict else "→ left unlabelled")

def confirm(todo: dict[int, str]) -> None:
    """Button callback: save the page's answers as one action and start a new round; the labels are written before
    the page runs again, and the retrain they call for runs in the background."""
    with state.guard("Saving the answers"):
        changed = guarded.label_each(access.actor(), coll, todo) if todo else 0
        st.session_state[f"answered_{slug}"] = answered + len(todo)
        st.session_state.pop(ROUND, None)  # the next run asks review() again: a new round
        st.session_state[NUMBER] = page["number"] + 1
        state.flash(f"Saved {len(todo)} answer{'s' if len(todo) != 1 else ''} ({changed} labels changed); "
                    "here is the next round")


todo = {item.id: a for item in items if (a := answer(item))}
st.button(f"Confirm this page ({len(todo)} label{'s' if len(todo) != 1 else ''})", type="primary",
          icon=":material/done_all:", key="confirm_page", on_click=confirm, args=(todo,))
