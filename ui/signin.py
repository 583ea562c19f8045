"""Signing in to a shared app: the gate at the top of every run, the sign-in form, who is signed in (sidebar), and
the note that someone else changed your labels.

Before a tab is signed in, the gate draws only the form (or, with no users yet, how to add one) and the run stops
there: no page, no sidebar, nothing of a collection.
"""

from __future__ import annotations

import logging
import time

import streamlit as st

from revsearch import attribution
from revsearch.auth import sessions
from revsearch.auth.sessions import SignedOut, SignInRefused
from revsearch.workspace import CollectionInfo
from ui import access, display, state

log = logging.getLogger("revsearch.app")


def gate() -> bool:
    """Whether this run may draw the app. When not, it has drawn the sign-in form or why it cannot start."""
    with state.guard("Starting revsearch"):
        current = access.mode()
        if not current.shared:
            access.actor()  # a malformed $REVSEARCH_ROOTS is said here, before any page
            return True
        if not access.store().users():
            _no_users(current.why)
            return False
        try:
            access.actor()
            return True
        except SignedOut as why:
            ended = st.session_state.pop(access.SESSION, None) is not None
            _form(str(why) if ended else None)
    return False


def _no_users(why: str) -> None:
    root = state.workspace().root
    log.error("sign-in is required (%s) but %s has no users: add one with `revsearch users add NAME --role admin "
              "--data %s`", why, root, root)
    st.title("revsearch is not shared yet")
    st.error(f"Sign-in is required ({why}), but nobody can sign in: there are no users yet. On the server, add an "
             f"admin (the password is read from stdin), then reload this page:\n\n"
             f"`revsearch users add NAME --role admin --data {root}`", icon=":material/lock:")


def _form(notice: str | None) -> None:
    st.title("Sign in to revsearch")
    if notice:
        st.info(notice, icon=":material/lock_clock:")
    with st.columns([2, 3])[0], st.form("sign_in", clear_on_submit=True):
        name = st.text_input("User name", max_chars=64, autocomplete="username")
        password = st.text_input("Password", type="password", max_chars=1024, autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if not submitted:
        return
    client = access.client()
    try:
        session = sessions.sign_in(access.store(), access.throttle(), name, password, client, time.time())
    except SignInRefused as exc:
        log.warning("sign-in refused for %r from %s: %s", name[:64], client, exc)
        st.error(str(exc), icon=":material/block:")
        return
    st.session_state[access.SESSION] = session
    st.rerun()


def _sign_out() -> None:
    st.session_state.pop(access.SESSION, None)


def badge() -> None:
    """In the sidebar of a shared app: who is signed in, in which role, and a Sign out button."""
    if not access.mode().shared:
        return
    who = access.actor()
    with st.sidebar:
        row = st.columns([3, 2], vertical_alignment="center")
        row[0].caption(f":material/person: **{display.md_escape(who.name)}** · {who.role}")
        row[1].button("Sign out", key="sign_out", type="tertiary", icon=":material/logout:", on_click=_sign_out)


def changed_by_others(info: CollectionInfo) -> None:
    """The labels of yours someone else changed since you last looked (the later label wins; both stay in the
    history), until you say you saw them."""
    who = access.actor().name
    coll = state.collection(info)
    changes = attribution.changed_by_others(coll, who)
    if not changes:
        return
    with st.container(border=True, key="changed_by_others"):
        n = len(changes)
        st.markdown(f":material/group: **Someone else changed {n} of your label{'s' if n != 1 else ''}** since you "
                    "last looked. The later label counts; the history keeps both.")
        st.dataframe([{"image": c.path.rsplit("/", 1)[-1], "your label": c.old, "now": c.new or "(removed)",
                       "by": c.user or "?", "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(c.at))}
                      for c in changes[:20]], hide_index=True, width="stretch")
        st.button("Got it", key="changes_seen", icon=":material/done:", on_click=attribution.mark_seen,
                  args=(coll, who, changes[0].action_id))
