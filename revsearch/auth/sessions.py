"""Signing in, and sessions that end: after `idle` seconds without use, `lifetime` seconds after the sign-in, when
the user's password changes or the user is removed. Each use re-reads the user, so a new role applies at once.

A session is kept by the app per browser tab (server-side, in the tab's Streamlit session); nothing here is stored
in the browser, so a closed tab's session is gone with it and a reload asks to sign in again. It is bound to the
address it signed in from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping

from revsearch.auth.throttle import Throttle
from revsearch.auth.users import User, UserStore
from revsearch.errors import RevsearchError

IDLE_ENV, LIFETIME_ENV = "REVSEARCH_SESSION_IDLE_MINUTES", "REVSEARCH_SESSION_HOURS"
IDLE_MINUTES, LIFETIME_HOURS = 60.0, 12.0


class SignInRefused(RevsearchError):
    """Wrong name or password, or too many failures lately (the message says which, never which part was wrong)."""


class SignedOut(RevsearchError):
    """The session is over (expired, password changed, user removed) or there never was one."""


@dataclass
class Session:
    user: str
    stamp: str  # the user's stamp at sign-in: a new password ends the session
    started: float
    seen: float
    client: str


@dataclass(frozen=True)
class Limits:
    idle: float  # seconds without use
    lifetime: float  # seconds after the sign-in

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Limits":
        env = os.environ if environ is None else environ
        return cls(60 * _positive(env, IDLE_ENV, IDLE_MINUTES), 3600 * _positive(env, LIFETIME_ENV, LIFETIME_HOURS))


def sign_in(store: UserStore, throttle: Throttle, name: str, password: str, client: str, now: float) -> Session:
    """A new session for `name` when `password` is theirs and neither the name nor the client is waiting out
    earlier failures; else `SignInRefused`."""
    user_key, client_key = ("user", str(name).strip().casefold()), ("client", client)
    wait = throttle.wait(user_key, client_key)
    if wait > 0:
        raise SignInRefused(f"Too many failed sign-ins: try again in {math.ceil(wait)} s.")
    user = store.authenticate(name, password)
    if user is None:
        throttle.failed(user_key, client_key)
        raise SignInRefused("Wrong user name or password.")
    throttle.succeeded(user_key)
    return Session(user.name, user.stamp, now, now, client)


def check(session: Session | None, store: UserStore, now: float, limits: Limits, client: str | None = None) -> User:
    """The session's user as the users file has them now (role included), and the session marked as used; else
    `SignedOut` saying why. A session used from another address than it signed in from ends too (a stolen session
    id replayed from another machine)."""
    if session is None:
        raise SignedOut("Sign in to use revsearch.")
    if client is not None and client != session.client:
        raise SignedOut("This session was signed in from another address: sign in again.")
    if now - session.started > limits.lifetime:
        raise SignedOut("Your session has ended (signed in too long ago): sign in again.")
    if now - session.seen > limits.idle:
        raise SignedOut("Your session expired after a while without use: sign in again.")
    user = store.get(session.user)
    if user is None:
        raise SignedOut(f"The user {session.user} no longer exists.")
    if user.stamp != session.stamp:
        raise SignedOut("Your password was changed: sign in again.")
    session.seen = now
    return user


def _positive(env: Mapping[str, str], key: str, default: float) -> float:
    text = env.get(key, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise RevsearchError(f"{key}={text!r}: give a positive number")
    return value


__all__ = ["IDLE_ENV", "LIFETIME_ENV", "Limits", "Session", "SignInRefused", "SignedOut", "check", "sign_in"]
