"""Remake the README's screenshots (docs/screenshot-*.jpg) from the real app in headless Chromium.

    PYTHONPATH=$PWD .venv/bin/python tests/e2e/readme_screenshots.py [--out docs]

Starts `streamlit run app.py` on a fresh data directory with the 80-photo demo (built on the first start, as a new
user sees it), then: Search (more like this from an example, a thumbs-up so the adjusted score shows), the details
of a result, the Map (cluster names, a box selection as a grid), and Check (the demo labelled by its class folders,
three of them then labelled as another kind), and a folder being indexed in the background while the Search page is
open (the sidebar's progress; clothing-small from ../shared when it is there, else the demo's photos). Not a test:
run it when the UI changes; `--only check` (or search, detail, map, jobs) remakes some of them.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.e2e.test_browser import CHROMIUM, DEMO, ROOT, go, running_app, settle  # noqa: E402

WIDTH, HEIGHT = 1400, 1500  # the browser window; the pictures are scaled down to SAVED px wide
SAVED = 1100


def save(page: Page, path: Path, clip: dict | None = None) -> None:
    png = page.screenshot(clip=clip) if clip else page.screenshot()
    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.resize((SAVED, round(img.height * SAVED / img.width)), Image.LANCZOS)
    img.save(path, "JPEG", quality=82, optimize=True)
    print("wrote", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--only", nargs="+", choices=("search", "detail", "map", "check", "jobs"))
    args = parser.parse_args()
    wanted = set(args.only or ("search", "detail", "map", "check", "jobs"))
    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp), DEMO) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(120_000)
        page.goto(url)
        expect(page.get_by_role("heading", name="Search by image")).to_be_visible(timeout=300_000)
        settle(page)
        page.get_by_role("button", name="No", exact=True).click()  # not now: the class-subfolder question
        settle(page)
        if wanted & {"search", "detail", "map"}:
            search_detail_map(page, args.out, wanted)
        if "check" in wanted:
            check(page, Path(tmp) / "data", args.out)
        if "jobs" in wanted:
            background_job(page, args.out)
        browser.close()
    return 0


def search_detail_map(page: Page, out: Path, wanted: set[str]) -> None:
    page.get_by_role("button", name="More like this").nth(2).click()
    settle(page)
    page.get_by_role("button", name="Thumbs up").nth(1).click()
    settle(page)
    page.get_by_role("heading", name="Search by image").scroll_into_view_if_needed()
    if "search" in wanted:
        save(page, out / "screenshot-search.jpg")
    if "detail" in wanted:
        page.get_by_role("button", name="Details").first.click()
        settle(page)
        dialog = page.get_by_role("dialog")
        expect(dialog.locator("code").first).to_be_visible()
        page.wait_for_timeout(800)
        box = dialog.bounding_box()
        save(page, out / "screenshot-detail.jpg",
             {"x": 0, "y": max(0, box["y"] - 20), "width": WIDTH, "height": min(HEIGHT, box["height"] + 40)})
        page.keyboard.press("Escape")
        settle(page)
    if "map" in wanted:
        go(page, "Map")
        plot = page.locator(".js-plotly-plot").first
        expect(plot).to_be_visible()
        page.wait_for_timeout(1000)
        area = plot.locator(".nsewdrag").first.bounding_box()
        page.locator(".modebar-btn[data-title='Box Select']").first.click()
        page.mouse.move(area["x"] + area["width"] * 0.55, area["y"] + area["height"] * 0.55)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.75, area["y"] + area["height"] * 0.8, steps=12)
        page.mouse.up()
        settle(page)
        page.get_by_role("heading", name="Map").scroll_into_view_if_needed()
        save(page, out / "screenshot-map.jpg")


def check(page: Page, data: Path, out: Path) -> None:
    """The demo labelled by its class folders, then three photos labelled as another kind: the Check page."""
    from revsearch import labels
    from revsearch.workspace import Workspace

    with Workspace(data).open("demo") as coll:
        labels.import_folders(coll)
        by_class = {}
        for row in coll.rows("indexed"):
            by_class.setdefault(Path(row.path).parent.name, []).append(row.id)
        for kind, wrong in (("dress", "pants"), ("shoes", "hat"), ("t-shirt", "shorts")):
            labels.label_images(coll, [sorted(by_class[kind])[1]], wrong)
    go(page, "Check")
    expect(page.get_by_text("label issue").first).to_be_visible()
    page.wait_for_timeout(1500)  # thumbnails
    page.get_by_role("heading", name="Check").scroll_into_view_if_needed()
    save(page, out / "screenshot-check.jpg", {"x": 0, "y": 0, "width": WIDTH, "height": 1100})


def background_job(page: Page, out: Path) -> None:
    """A new collection's folder indexed in place, followed from the Search page's sidebar."""
    shared = ROOT.parent / "shared" / "datasets" / "clothing-small"
    go(page, "Collections")
    page.get_by_label("Name", exact=True).fill("Clothing")
    page.get_by_role("button", name="Create").click()
    settle(page)
    page.get_by_role("tab", name="Folder on this machine").click()
    page.get_by_label("Folder path").fill(str(shared if shared.is_dir() else DEMO))
    page.get_by_role("button", name="Index this folder").click()
    go(page, "Search")
    expect(page.get_by_role("heading", name="Search by image")).to_be_visible()
    expect(page.locator("[data-testid='stSidebar'] [data-testid='stProgress']").first).to_be_visible()
    page.wait_for_timeout(2500)  # a few progress reports: the time left is measured, not guessed
    save(page, out / "screenshot-jobs.jpg", {"x": 0, "y": 0, "width": WIDTH, "height": 800})


if __name__ == "__main__":
    sys.exit(main())
