"""How things are shown on every page: the thumbnail size, file names cut to fit, and text shown literally in
markdown."""

from __future__ import annotations

THUMB = 256


def short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 9] + "…" + name[-8:]


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def md_escape(text: str) -> str:
    """Show file names and labels literally in markdown (no emphasis, links or HTML from a name)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in str(text))
