"""Whether the app is shared (and must ask who is there): REVSEARCH_AUTH=required, or a server that listens on
anything but this machine's loopback address.

Streamlit listens on every interface when `server.address` is not set, so an unset address counts as shared; only
`localhost` and loopback IPs (127.0.0.0/8, ::1) are private. There is no setting that turns sign-in off on a
non-loopback address.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Mapping

from revsearch.errors import RevsearchError

AUTH_ENV = "REVSEARCH_AUTH"  # "required" (sign-in even on loopback), or unset / "auto"
REQUIRED, AUTO = "required", "auto"


@dataclass(frozen=True)
class Mode:
    shared: bool
    why: str  # for people: why sign-in is (not) required


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` can be reached from this machine only."""
    if not address:
        return False  # Streamlit binds every interface when no address is set
    host = address.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def mode(address: str | None, environ: Mapping[str, str] | None = None) -> Mode:
    """Shared or not, for a server listening on `address` (Streamlit's server.address)."""
    value = (os.environ if environ is None else environ).get(AUTH_ENV, "").strip().lower()
    if value not in ("", AUTO, REQUIRED):
        raise RevsearchError(f"{AUTH_ENV}={value!r} is not understood: use {AUTH_ENV}=required, or leave it unset "
                             "(sign-in is then required whenever the server listens beyond this machine)")
    if value == REQUIRED:
        return Mode(True, f"{AUTH_ENV}=required")
    if not is_loopback(address):
        shown = address or "every network interface (server.address is not set)"
        return Mode(True, f"the server listens on {shown}")
    return Mode(False, f"the server listens on {address} only")


__all__ = ["AUTH_ENV", "Mode", "is_loopback", "mode"]
