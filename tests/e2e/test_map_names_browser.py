"""End to end in headless Chromium: the names written on the map never overlap, even for groups whose centres are
stacked on one spot — their boxes, as the browser draws them, do not intersect, and every name is on the map.

Its own server (the fixtures of test_browser.py) with a 16-photo demo, mapped by PCA (no UMAP start-up). Eight labels
are given to pairs of images chosen so that each pair's centre (the median of its two points) falls near the middle of
the map: drawn at their centres, the eight names would sit on one another.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.test_browser import copy_photos, go, no_tracebacks, page, running_app, settle, shot  # noqa: F401

pytestmark = pytest.mark.e2e

from playwright.sync_api import Page, expect  # noqa: E402

from revsearch import labels, projection  # noqa: E402
from revsearch.collection import Collection  # noqa: E402

CLASSES = ("dress", "hat", "outwear", "pants", "shirt", "shoes", "shorts", "skirt")
NAMES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot g.annotation')).map(g => {
  const r = g.querySelector('rect.bg').getBoundingClientRect();
  return {text: g.textContent, box: [r.left, r.top, r.right, r.bottom]}; })"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("e2e-names")
    demo = base / "demo"
    copy_photos(demo, {cls: 2 for cls in CLASSES})
    with running_app(base, demo) as url:
        yield url, base


def stacked_pairs(points: list) -> list[tuple[int, int]]:
    """Pairs of points whose midpoints all lie near the centroid: each point with the one nearest its mirror image
    through the centroid."""
    xy = np.array([(p.x, p.y) for p in points])
    centre = xy.mean(axis=0)
    left = list(range(len(points)))
    pairs = []
    while len(left) > 1:
        a = max(left, key=lambda n: float(np.linalg.norm(xy[n] - centre)))
        left.remove(a)
        b = min(left, key=lambda n: float(np.linalg.norm(xy[n] - (2 * centre - xy[a]))))
        left.remove(b)
        pairs.append((points[a].id, points[b].id))
    return pairs


def test_names_on_the_map_do_not_overlap(server, page: Page):
    url, base = server
    page.goto(url)
    expect(page.get_by_role("heading", name="Search by image")).to_be_visible(timeout=150_000)
    settle(page)
    with Collection.open(base / "data" / "collections" / "demo") as coll:
        pairs = stacked_pairs(projection.map_points(coll, update=False))
        names = [f"stacked group {n + 1}" for n in range(len(pairs))]
        for pair, name in zip(pairs, names):
            labels.label_images(coll, list(pair), name)
    go(page, "Map")
    page.get_by_role("radio", name="Label", exact=True).click()  # colour by label: one name per pair
    settle(page)
    no_tracebacks(page)
    page.wait_for_timeout(800)
    drawn = page.evaluate(NAMES_JS)
    shot(page, "names-01-map-by-label")
    boxes = [d["box"] for d in drawn]
    clashes = [(a["text"], b["text"]) for n, a in enumerate(drawn) for b in drawn[n + 1:]
               if a["box"][0] < b["box"][2] and b["box"][0] < a["box"][2]
               and a["box"][1] < b["box"][3] and b["box"][1] < a["box"][3]]
    assert len(boxes) >= 1 and clashes == [], clashes
    shown = " · ".join(d["text"] for d in drawn)
    assert all(name in shown for name in names), (names, shown)  # every name is on the map (merged or apart)
