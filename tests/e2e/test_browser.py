"""End to end in a real headless Chromium: start the app, upload a folder, search, lasso on the map, label, export.

Runs `streamlit run app.py` on a free loopback port with a temporary data directory and a 4-photo demo (so the real
first-start path — building the demo — runs too), drives Debian's /usr/bin/chromium with Playwright, and saves a
screenshot of every page under tests/e2e/artifacts/ (git-ignored). Skipped only when /usr/bin/chromium is missing
(scripts/test installs it).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import zipfile
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DEMO = ROOT / "assets" / "demo"
LABEL = "e2e-picked"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
OUTSIDE: list[str] = []  # every request the page tried to send to another host (blocked)

pytestmark = pytest.mark.e2e

if not CHROMIUM.exists():
    pytest.skip("end-to-end test needs Debian's chromium at /usr/bin/chromium (apt-get install chromium); "
                "scripts/test installs it", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_photos(dest: Path, classes: dict[str, int], start: int = 0) -> list[Path]:
    out = []
    for cls, n in classes.items():
        for src in sorted((DEMO / cls).glob("*.jpg"))[start : start + n]:
            target = dest / cls / src.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            out.append(target)
    return out


def start_app(env: dict, address: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port at `address`, answering its health check; (process, loopback URL)."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             address, "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("streamlit did not answer within 60 s")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def running_app(base: Path, demo: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free port with the data directory `base`/data and the demo built from `demo`;
    yields its URL, stopped afterwards."""
    env = {**os.environ, "REVSEARCH_DATA": str(base / "data"), "REVSEARCH_DEMO": str(demo)}
    proc, url = start_app(env, "127.0.0.1", base / "streamlit.log")
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The app with its own data directory and a tiny demo (4 photos)."""
    base = tmp_path_factory.mktemp("e2e")
    demo = base / "demo"
    copy_photos(demo, {"hat": 2, "skirt": 2})
    with running_app(base, demo) as url:
        yield url, base


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1500}, accept_downloads=True)
        context.route("**/*", keep_local)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        context.close()
        browser.close()


def keep_local(route) -> None:
    """Nothing leaves the machine: requests to any other host are blocked and counted."""
    host = urlparse(route.request.url).hostname
    if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
        route.continue_()
    else:
        OUTSIDE.append(route.request.url)
        route.abort()


def settle(page: Page) -> None:
    """Wait until the script run finished (Streamlit's "running" indicator is gone)."""
    page.wait_for_timeout(400)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=120_000)
    page.wait_for_timeout(400)


def go(page: Page, name: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=name, exact=True).click()
    settle(page)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_tracebacks(page: Page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def lasso_everything(page: Page) -> None:
    """Drag a lasso around the whole plotting area (just inside its edges)."""
    plot = page.locator(".js-plotly-plot").first
    expect(plot).to_be_visible()
    page.wait_for_timeout(800)
    box = plot.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    x0, y0, w, h = box["x"] + 3, box["y"] + 3, box["width"] - 6, box["height"] - 6
    page.mouse.move(x0, y0)
    page.mouse.down()
    for fx, fy in [(1, 0), (1, 1), (0, 1), (0, 0.02)]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=12)
    page.mouse.up()


def draw_box(page: Page, plot, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, ...]:
    """Drag a box on a Plotly image from `start` to `end` (fractions of the picture on screen); returns them as
    (x0, y0, x1, y1)."""
    expect(plot).to_be_visible()
    page.wait_for_timeout(600)
    picture = plot.locator("g.imagelayer image").first.bounding_box()
    assert picture is not None
    px0, py0 = picture["x"] + picture["width"] * start[0], picture["y"] + picture["height"] * start[1]
    px1, py1 = picture["x"] + picture["width"] * end[0], picture["y"] + picture["height"] * end[1]
    page.mouse.move(px0, py0)
    page.mouse.down()
    page.mouse.move(px1, py1, steps=12)
    page.mouse.up()
    return start[0], start[1], end[0], end[1]


def test_upload_search_lasso_label_export(server, page: Page, tmp_path: Path):
    url, base = server

    # ---- first start: the demo is built (progress bar), then the search page opens on it
    page.goto(url)
    expect(page.get_by_role("heading", name="Search by image")).to_be_visible(timeout=150_000)
    settle(page)
    no_tracebacks(page)
    expect(page.get_by_text("Model:").first).to_be_visible()
    shot(page, "01-start-search")

    # ---- a new collection, and a folder uploaded into it
    go(page, "Collections")
    page.get_by_label("Name", exact=True).fill("E2E photos")
    page.get_by_role("button", name="Create").click()
    settle(page)
    expect(page.get_by_text("Add images to “E2E photos”")).to_be_visible()
    folder = tmp_path / "upload" / "my photos"
    uploaded = copy_photos(folder, {"dress": 3, "shoes": 3, "pants": 3, "t-shirt": 3}, start=2)
    page.locator("input[type='file'][webkitdirectory]").set_input_files(folder)
    add = page.get_by_role("button", name=f"Add {len(uploaded)} files from the folder")
    add.click()
    expect(page.get_by_text("Done in").first).to_contain_text("new images indexed", timeout=120_000)
    settle(page)
    no_tracebacks(page)
    assert page.get_by_test_id("stMetricValue").first.inner_text().strip() == str(len(uploaded))
    shot(page, "02-collections-after-upload")

    # ---- a .zip with two more photos and a stray text file (refused, with the reason)
    zipped = copy_photos(tmp_path / "zip", {"shorts": 2})
    archive = tmp_path / "more photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for photo in zipped:
            zf.write(photo, f"more/{photo.name}")
        zf.writestr("more/notes.txt", "not a photo")
        zf.writestr("../../escape.jpg", zipped[0].read_bytes())  # path traversal: lands inside the collection
    page.get_by_role("tab", name="Upload files or a .zip").click()
    page.locator("input[type='file']:not([webkitdirectory])").set_input_files(archive)

    page.get_by_role("button", name="Add 1 file", exact=True).click()
    expect(page.get_by_text("Skipped files (1) and why")).to_be_visible(timeout=120_000)
    settle(page)
    no_tracebacks(page)
    values = [v.inner_text().strip() for v in page.get_by_test_id("stMetricValue").all()]
    # indexed, unchanged, skipped (none unreadable), duplicates (escape.jpg), not added (notes.txt: not an image)
    assert values[:5] == ["2", "0", "0", "1", "1"]
    assert not (base / "escape.jpg").exists() and not (base / "data" / "escape.jpg").exists()
    uploaded += zipped

    # ---- the collection lives in the URL: a reload (or a shared link) opens the same collection
    assert "collection=e2e-photos" in page.url
    page.reload()
    settle(page)
    expect(page.get_by_text("Add images to “E2E photos”")).to_be_visible()
    sidebar = page.locator("[data-testid='stSidebar']")
    for _ in range(120):  # the sidebar's selector too (its value shows in the accessibility tree, not in the text)
        if "E2E photos" in sidebar.aria_snapshot():
            break
        page.wait_for_timeout(500)
    assert "E2E photos" in sidebar.aria_snapshot()

    # ---- search with a resized copy of one uploaded photo: it must come first
    target = uploaded[4]
    query = tmp_path / "query.jpg"
    with Image.open(target) as im:
        im.convert("RGB").resize((im.width * 3 // 5, im.height * 3 // 5)).save(query, quality=80)
    go(page, "Search")
    page.locator("input[type='file']").first.set_input_files(query)
    expect(page.get_by_role("heading", name=f"Top match: {target.name}")).to_be_visible(timeout=60_000)
    settle(page)
    no_tracebacks(page)
    shot(page, "03-search-results")

    # ---- the detail view of the best result: large picture, full path, the actions
    page.get_by_role("button", name="Details").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("code").first).to_contain_text(f"e2e-photos/files/", timeout=30_000)
    expect(dialog.locator("code").first).to_contain_text(target.name)
    expect(dialog.get_by_role("button", name="Download the original")).to_be_visible()
    shot(page, "03b-detail-view")
    page.keyboard.press("Escape")
    settle(page)

    # ---- a region of the query (its centre), drawn as a box on the picture: the best hit is still its image
    page.get_by_text("Search with a region of the query").click()
    settle(page)
    panel = page.get_by_test_id("stExpander").filter(has_text="Search with a region of the query")
    expect(panel.get_by_text("--crop 0,0,", exact=False)).to_be_visible()  # the whole picture until one is drawn
    with Image.open(query) as im:
        width, height = im.size
    drawn = draw_box(page, panel.locator(".js-plotly-plot"), (0.25, 0.2), (0.8, 0.75))
    settle(page)
    crop_caption = panel.get_by_text("--crop ", exact=False).inner_text()
    x, y, w, h = (int(v) for v in crop_caption.split("--crop ")[1].split(")")[0].strip("`").split(","))
    expected = (drawn[0] * width, drawn[1] * height, (drawn[2] - drawn[0]) * width, (drawn[3] - drawn[1]) * height)
    assert all(abs(got - want) < 0.03 * max(width, height) for got, want in zip((x, y, w, h), expected)), crop_caption
    assert panel.get_by_label("Left (x)").input_value() == str(x)  # the number boxes follow the box drawn
    expect(page.get_by_role("heading", name=f"Top match: {target.name}")).to_be_visible(timeout=60_000)
    expect(panel.get_by_text("--crop ", exact=False)).to_be_visible()  # the panel stayed open
    shot(page, "03c-region-query")
    page.get_by_role("tab", name="On the map").click()
    settle(page)
    expect(page.get_by_role("tabpanel").locator(".js-plotly-plot")).to_have_count(1)
    shot(page, "04-search-on-the-map")

    # ---- the map: lasso every point, label the selection in one action
    go(page, "Map")
    lasso_everything(page)
    expect(page.get_by_text(f"{len(uploaded)} images selected")).to_be_visible(timeout=30_000)
    settle(page)
    shot(page, "05-map-selection")
    page.get_by_label("Label", exact=True).fill(LABEL)
    page.get_by_role("button", name="Label selection").click()
    settle(page)
    no_tracebacks(page)
    page.get_by_text("Label", exact=True).first.wait_for()

    # ---- clusters: the export CSV carries the label of every uploaded photo
    go(page, "Clusters")
    no_tracebacks(page)
    shot(page, "06-clusters")
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Labels (.csv)").click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    labelled = {Path(r["path"]).name: r["label"] for r in rows}
    assert {p.name: labelled.get(p.name) for p in uploaded} == {p.name: LABEL for p in uploaded}

    # ---- the remaining page
    go(page, "Duplicates")
    no_tracebacks(page)
    shot(page, "07-duplicates")
    go(page, "Map")
    shot(page, "08-map-labelled")


def test_nothing_leaves_the_machine(server, page: Page):
    """Runs after the walk through every page above (same browser): no request went to another host."""
    page.goto(server[0])
    settle(page)
    icon = page.locator("link[rel='shortcut icon'], link[rel='icon']").first.get_attribute("href") or ""
    assert not icon.startswith("http") or urlparse(icon).hostname in LOCAL_HOSTS
    assert OUTSIDE == [], f"requests to other hosts: {OUTSIDE[:10]}"
