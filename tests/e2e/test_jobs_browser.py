"""End to end in headless Chromium: background jobs (issue 18).

- an empty folder is a warning, not a green "Done", and is not listed as indexed;
- indexing a folder goes on after the person leaves the Collections page: the sidebar of another page shows its
  progress and, when it ends, says so and shows the new collection without a reload; a second tab sees the job too;
- the click-to-result times of the labelling actions on the collection it made (recorded in
  tests/e2e/artifacts/clicks.json, not asserted: benchmarks/jobs.py measures them at 1,000 images).

Uses the server and browser fixtures of test_browser.py (a `streamlit run app.py` with a 4-photo demo).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.e2e.test_browser import (ARTIFACTS, DEMO, go, no_tracebacks, page, server, settle,  # noqa: F401  (fixtures)
                                    shot)

pytestmark = pytest.mark.e2e

from playwright.sync_api import Page, expect  # noqa: E402

from tests.e2e.measure_clicks import Clicks  # noqa: E402

NAME = "Jobs"
SLUG = "jobs"
SIDEBAR = "[data-testid='stSidebar']"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's 80 photos and a mirrored copy of every other one: 120 images, enough for indexing to take a while."""
    root = tmp_path_factory.mktemp("jobs") / "photos"
    for n, src in enumerate(sorted(DEMO.rglob("*.jpg"))):
        target = root / src.parent.name / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            im = im.convert("RGB")
            im.save(target, quality=90)
            if n % 2 == 0:
                ImageOps.mirror(im).save(target.with_name(f"mirrored-{src.name}"), quality=90)
    return root


def index_in_place(page: Page, folder: Path) -> None:
    page.get_by_role("tab", name="Folder on this machine").click()
    page.get_by_label("Folder path").fill(str(folder))
    page.get_by_role("button", name="Index this folder").click()


def test_an_empty_folder_is_a_warning_and_not_listed(server, page: Page, tmp_path: Path):
    url, _ = server
    page.goto(url)
    expect(page.get_by_role("heading", name="Search by image")).to_be_visible(timeout=150_000)
    settle(page)
    go(page, "Collections")
    page.get_by_label("Name", exact=True).fill(NAME)
    page.get_by_role("button", name="Create").click()
    settle(page)
    empty = tmp_path / "empty folder"
    empty.mkdir()
    index_in_place(page, empty)  # (the empty folder's check below also waits for the tab to be open)
    expect(page.get_by_text("No image found, nothing was indexed")).to_be_visible(timeout=60_000)
    settle(page)
    no_tracebacks(page)
    expect(page.get_by_text("holds nothing: no image was indexed")).to_be_visible()
    assert page.get_by_text("Done in").count() == 0
    expect(page.get_by_text("Folders indexed in place")).to_have_count(0)
    shot(page, "jobs-01-empty-folder")


def test_indexing_goes_on_after_leaving_the_page_and_another_tab_sees_it(server, page: Page, photos: Path):
    url, _ = server
    sidebar = page.locator(SIDEBAR)
    index_in_place(page, photos)
    expect(sidebar.get_by_text("Indexing photos")).to_be_visible(timeout=60_000)
    go(page, "Search")  # leave the page: the job goes on
    expect(page.get_by_text("is being indexed: search works when the run ends")).to_be_visible()  # not "no images"
    bar = sidebar.locator("[data-testid='stProgress']").filter(has_text="Indexing photos")
    expect(bar).to_contain_text(re.compile(r"Embedding: \d+ / 120 images|Making thumbnails|Grouping|map"),
                                timeout=120_000)
    first = bar.inner_text()
    shot(page, "jobs-02-progress-on-another-page")

    other = page.context.new_page()  # a second tab: a session of its own, the same server
    other.goto(f"{url}/?collection={SLUG}")
    expect(other.locator(SIDEBAR).get_by_text("Indexing photos")).to_be_visible(timeout=60_000)
    other.screenshot(path=str(ARTIFACTS / "jobs-03-second-tab.png"), full_page=True)
    other.close()

    expect(bar).not_to_have_text(first, timeout=120_000)  # it moves on by itself: no reload, no click
    # when it ends the page says so and shows the new collection, still without a reload
    expect(page.get_by_text("Indexing photos: done, 120 new images indexed")).to_be_visible(timeout=300_000)
    expect(bar).to_have_count(0)
    expect(page.get_by_text("is being indexed")).to_have_count(0)
    settle(page)
    no_tracebacks(page)
    expect(sidebar.get_by_text("120 images").first).to_be_visible()  # the collection's size, updated by itself
    go(page, "Collections")
    expect(page.get_by_text("Done in").first).to_contain_text("120 new images indexed")
    page.get_by_role("tab", name="Folder on this machine").click()
    expect(page.get_by_text("Folders indexed in place")).to_contain_text(str(photos))
    shot(page, "jobs-04-indexed")


def test_click_to_result_times_are_recorded(server, page: Page):
    url, _ = server
    tab = page.context.new_page()
    clicks = Clicks(tab)  # listens to the app's websocket, so it is made before the tab opens the app
    tab.set_default_timeout(120_000)
    tab.goto(f"{url}/?collection={SLUG}")
    expect(tab.get_by_role("heading", name="Search by image")).to_be_visible(timeout=60_000)
    clicks.open("Clusters")
    clicks.name_cluster(0, "first kind")
    clicks.name_cluster(1, "second kind")
    clicks.undo()
    clicks.open("Label next")
    clicks.confirm_page("first kind")
    clicks.open("Map")
    clicks.label_selection("picked", share=0.8)
    clicks.undo()
    no_tracebacks(tab)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "clicks.json").write_text(json.dumps({"images": 120, "times": clicks.summary()}, indent=2))
    assert set(clicks.times) >= {"name a cluster", "undo", "confirm a Label-next page", "label a map selection"}
    tab.close()
