"""The Undo control of the pages where labels are made (map selection, cluster naming, suggestions, Label next).

Each person undoes their own actions; an admin also gets an Undo for someone else's newest action. The server
checks again on the click (revsearch.auth.guarded.undo), whatever the button showed."""

from __future__ import annotations

import streamlit as st

from revsearch import attribution
from revsearch.auth import guarded
from revsearch.collection import Collection
from ui import access, state
from ui.access import Permission


def undo_button(coll: Collection, key: str) -> bool:
    """"Undo: <your newest labelling action>" (and for an admin "Undo <name>'s: …"), or nothing to undo; True on
    the run after a click (a dialog then reruns the whole page, whose grids show the labels as they are again).

    The click undoes the action the button named (by id), even if another tab labelled something meanwhile; images
    whose label changed since are left alone, and the message says so."""
    if not access.can(Permission.LABEL):
        return False
    who = access.actor()
    clicked = False
    mine = guarded.last_action(who, coll)
    if mine is not None:
        clicked = st.button(f"Undo: {mine.description}", key=key, icon=":material/undo:", type="tertiary",
                            help="reverses this labelling action; press again to go one more step back",
                            on_click=_undo, args=(coll, mine.id))
    if who.may(Permission.UNDO_OTHERS):
        newest = attribution.newest_action(coll)
        if newest is not None and newest.user not in (None, who.name):
            clicked |= st.button(f"Undo {newest.user}'s: {newest.description}", key=f"{key}_others",
                                 icon=":material/undo:", type="tertiary",
                                 help="as an admin you can take back another person's action",
                                 on_click=_undo, args=(coll, newest.id))
    return clicked


def _undo(coll: Collection, action_id: int) -> None:
    with state.guard("Undoing"):
        rep = guarded.undo(access.actor(), coll, action_id)
        state.flash(f"Undid “{rep.action.description}”: {rep.restored} image{'s' if rep.restored != 1 else ''} "
                    "restored" + (f"; {len(rep.skipped)} left as they are (relabelled since)" if rep.skipped else "")
                    + (f"; {rep.note}" if rep.note else ""))
