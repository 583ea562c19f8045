"""The one permission helper of the pages: who acts (`actor()`), what they may do (`can()`), and whether this app is
shared (revsearch.auth.shared: REVSEARCH_AUTH=required, or a server listening beyond this machine).

When shared, the actor is the signed-in user of this browser tab, checked again on every call: an expired session,
a changed password or a removed user end it (`SignedOut`), and a new role applies at the next click. On one's own
machine the actor is the OS user, as admin. Pages draw a control only when `can(...)` allows it, and hand `actor()`
to revsearch.auth.guarded, which refuses what the role does not allow whatever the page drew.
"""

from __future__ import annotations

import time
from typing import Callable

import streamlit as st

from revsearch.auth import sessions, shared
from revsearch.auth.roles import ADMIN, Actor, Permission
from revsearch.auth.roots import Roots
from revsearch.auth.throttle import Throttle
from revsearch.auth.users import UserStore, os_user
from revsearch.errors import RevsearchError
from ui import state

SESSION = "_signed_in"  # session_state: this tab's revsearch.auth.sessions.Session


def mode() -> shared.Mode:
    """Shared or not, from Streamlit's server.address and $REVSEARCH_AUTH."""
    return shared.mode(st.get_option("server.address"))


def store() -> UserStore:
    """The users of this data directory."""
    return UserStore(state.workspace().root)


@st.cache_resource(show_spinner=False)
def throttle() -> Throttle:
    """One sign-in throttle for the whole server (every tab's failures count)."""
    return Throttle()


def client() -> str:
    """The browser's address as the server sees it (a proxy's address behind a proxy)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "unknown"


def actor() -> Actor:
    """Who acts in this run; `SignedOut` when a shared app's tab has no valid session."""
    return later()()


def later() -> Callable[[], Actor]:
    """`actor` for work Streamlit runs outside the script (a deferred download): the returned function checks this
    tab's session again when it is called."""
    if not mode().shared:
        return lambda: Actor(os_user(), ADMIN, Roots.from_env(shared=False))
    session, users, address = st.session_state.get(SESSION), store(), client()

    def now() -> Actor:
        user = sessions.check(session, users, time.time(), sessions.Limits.from_env(), address)
        return Actor(user.name, user.role, Roots.from_env(shared=True))

    return now


def can(permission: Permission) -> bool:
    """Whether the page should draw a control that needs `permission`."""
    try:
        return actor().may(permission)
    except RevsearchError:
        return False


__all__ = ["Permission", "SESSION", "actor", "can", "client", "later", "mode", "store", "throttle"]
