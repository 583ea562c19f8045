"""End to end in headless Chromium: a lasso on the map, one image unticked in the selection grid, then labelling —
the label lands on the ticked images and not on the unticked one.

Uses the same server and browser fixtures as test_browser.py (a `streamlit run app.py` with a 4-photo demo).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_browser import go, lasso_everything, no_tracebacks, page, server, settle, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

from playwright.sync_api import Page, expect  # noqa: E402

from revsearch import labels  # noqa: E402
from revsearch.collection import Collection  # noqa: E402
from ui.display import short  # noqa: E402

LABEL = "e2e-ticked"


def test_map_selection_with_one_image_unticked_before_labelling(server, page: Page):
    url, base = server
    page.goto(url)
    expect(page.get_by_role("heading", name="Search by image")).to_be_visible(timeout=150_000)
    settle(page)
    go(page, "Map")
    no_tracebacks(page)
    lasso_everything(page)
    expect(page.get_by_text("4 images selected")).to_be_visible(timeout=30_000)
    settle(page)
    boxes = page.locator("[class*='st-key-grid_selection'] [data-testid='stCheckbox']")
    expect(boxes).to_have_count(4)
    unticked = boxes.nth(1).inner_text().strip()
    boxes.nth(1).locator("label").click()
    expect(page.get_by_text("4 images selected · 3 ticked")).to_be_visible(timeout=30_000)
    settle(page)
    shot(page, "map-01-selection-one-unticked")
    page.get_by_label("Label", exact=True).fill(LABEL)
    page.get_by_role("button", name="Label 3 ticked").click()
    settle(page)
    no_tracebacks(page)
    expect(page.get_by_text("No images selected.")).to_be_visible(timeout=30_000)
    shot(page, "map-02-labelled")

    with Collection.open(base / "data" / "collections" / "demo") as coll:
        known = labels.labels(coll)
        names = {r.id: Path(r.path).name for r in coll.rows("indexed")}
    assert len(names) == 4
    left_out = [i for i, name in names.items() if short(name, 22) == unticked]
    assert len(left_out) == 1, (unticked, names)
    assert {i: known.get(i) for i in names} == {i: (None if i == left_out[0] else LABEL) for i in names}
