"""Errors carry a structured hint, worded by the CLI with its flags and by the app without them (issue 19)."""

from __future__ import annotations

import pytest

from revsearch.cli.common import CLI_HINTS, error_text as cli_text
from revsearch.errors import HINTS, MAKE_CLUSTERS, USE_INPUT, Hint, RevsearchError
from ui.state import APP_HINTS, error_text as app_text


def test_every_hint_kind_is_worded_for_both_audiences_and_the_app_names_no_flag() -> None:
    assert set(CLI_HINTS) == set(APP_HINTS) == set(HINTS)
    for kind, text in APP_HINTS.items():
        assert "--" not in text and "`" not in text and "revsearch " not in text, kind


def test_the_cli_keeps_its_wording_and_the_app_says_it_its_own_way() -> None:
    exc = RevsearchError("collection /c was built with input handling 'letterbox'; vectors made with "
                         "'letterbox+native' are not comparable with its own", Hint(USE_INPUT, {"input": "letterbox"}))
    assert cli_text(exc).endswith("not comparable with its own. Use --input letterbox or a new collection.")
    assert app_text(exc).endswith("not comparable with its own. This collection keeps its own input handling, "
                                  "letterbox; make a new collection to use another.")
    plain = RevsearchError("k must be at least 1")
    assert cli_text(plain) == app_text(plain) == "k must be at least 1"
    assert "Clusters page" in app_text(RevsearchError("no clusters yet", Hint(MAKE_CLUSTERS)))


def test_an_unknown_hint_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown hint kind"):
        Hint("use-magic")
