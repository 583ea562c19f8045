"""Serving the app over an existing data directory for the measuring scripts (measure_pages.py, measure_clicks.py):
`streamlit run app.py` on a free port, a headless Chromium page, and the first load."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.test_browser import CHROMIUM, ROOT, free_port


def serve(data: Path, root: Path = ROOT, log=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """The app of the checkout `root` over the data directory `data` (no demo); (process, its URL)."""
    port = free_port()
    env = {**os.environ, "REVSEARCH_DATA": str(data), "REVSEARCH_DEMO": "off", "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=root, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def new_page(p):
    """(browser, page): headless Debian chromium, a 1400×1100 page with a 3-minute default timeout."""
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(180_000)
    return browser, page


def open_when_up(page, url: str, tries: int = 240) -> None:
    """Open `url` as soon as the server answers."""
    for _ in range(tries):
        try:
            page.goto(url)
            return
        except Exception:  # noqa: BLE001 - server still starting
            time.sleep(0.5)
    raise RuntimeError(f"the app at {url} did not answer")
