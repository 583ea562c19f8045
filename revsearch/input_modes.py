"""The names of input handling modes: how a photo becomes model inputs (revsearch/embed/views.py does it).

A collection records its mode, and vectors made under another mode are not comparable with its own. The names live
here, apart from the model code, so that the catalog can record and read them without importing a model.
"""

from __future__ import annotations

from revsearch.errors import RevsearchError

LETTERBOX, TWO_VIEWS = "letterbox", "letterbox+native"
INPUT_MODES = (LETTERBOX, TWO_VIEWS)
DEFAULT_INPUT = TWO_VIEWS  # for new collections
LEGACY_INPUT = LETTERBOX  # for collections and shards that record no mode (made before the choice existed)


def check_input(mode: str) -> str:
    """The mode itself when it is known; else an error listing the known ones."""
    if mode not in INPUT_MODES:
        raise RevsearchError(f"unknown input handling {mode!r}; choose one of {', '.join(INPUT_MODES)}")
    return mode
