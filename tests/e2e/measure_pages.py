"""Measure how long each page of the app takes to open in a real browser, after the first load.

    .venv/bin/python tests/e2e/measure_pages.py --data DIR [--collection SLUG] [--rounds 3]

Starts `streamlit run app.py` on a free port over an existing data directory (build one first, e.g. with
`python -m revsearch index FOLDER --collection DIR/collections/NAME`, or through the app), opens every page once
(the first load: caches filled), then times each page `--rounds` times: from the click in the sidebar to the page's
last element being visible with Streamlit idle. Prints one line per page (median, max) and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))
from tests.e2e.serving import new_page, open_when_up, serve  # noqa: E402

# page title in the sidebar -> a locator that exists only once the page has finished drawing
READY = {
    "Search": "[data-testid='stMain'] button:has-text('More like this')",
    "Map": ".js-plotly-plot .main-svg",
    # a collection indexed by the CLI and never clustered shows the "not grouped yet" notice instead of the export
    "Clusters": "button:has-text('Labels (.json)'), [data-testid='stAlert']:has-text('not been grouped')",
    "Duplicates": "[data-testid='stHeading']:has-text('Duplicates')",
    "Collections": "[data-testid='stHeading']:has-text('All collections')",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="an existing REVSEARCH_DATA directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each page here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    proc, url = serve(args.data)
    results: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser, page = new_page(p)
            open_when_up(page, url)
            page.locator(READY["Search"]).first.wait_for()

            def open_page(name: str) -> float:
                started = time.perf_counter()
                page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=name, exact=True).click()
                page.locator(READY[name]).first.wait_for(state="visible")
                page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
                return time.perf_counter() - started

            first = {name: open_page(name) for name in READY}  # first load: fills the caches
            print("first load: " + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()))
            for _ in range(args.rounds):
                for name in READY:
                    results.setdefault(name, []).append(open_page(name))
                    if args.screenshots:
                        args.screenshots.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(args.screenshots / f"{name.lower()}.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    for name, times in results.items():
        print(f"{name:12s} median {statistics.median(times):.2f} s   max {max(times):.2f} s")
    print(json.dumps({k: {"median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3)}
                      for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
