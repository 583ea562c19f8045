"""The one Undo control of the pages where labels are made (map selection, cluster naming, suggestions)."""

from __future__ import annotations

import streamlit as st

from revsearch import labels
from revsearch.collection import Collection
from ui import state


def undo_button(coll: Collection, key: str) -> bool:
    """"Undo: <the newest labelling action>", or nothing when there is nothing to undo; True on the run after a
    click (a dialog then reruns the whole page, whose grids show the labels as they are again).

    The click undoes the action the button named (by id), even if another tab labelled something meanwhile; images
    whose label changed since are left alone, and the message says so."""
    last = labels.last_action(coll)
    if last is None:
        return False
    return st.button(f"Undo: {last.description}", key=key, icon=":material/undo:", type="tertiary",
                     help="reverses this labelling action; press again to go one more step back",
                     on_click=_undo, args=(coll, last.id))


def _undo(coll: Collection, action_id: int) -> None:
    with state.guard("Undoing"):
        rep = labels.undo(coll, action_id)
        state.flash(f"Undid “{rep.action.description}”: {rep.restored} image{'s' if rep.restored != 1 else ''} "
                    "restored" + (f"; {len(rep.skipped)} left as they are (relabelled since)" if rep.skipped else "")
                    + (f"; {rep.note}" if rep.note else ""))
