"""Click-to-result times of the labelling actions in a real browser: naming a cluster, confirming a Label-next page,
labelling a map selection, undo (issue 18: "every labelling click answers in under 1 s at 1,000 images").

    .venv/bin/python tests/e2e/measure_clicks.py --data DIR [--rounds 3] [--app-root ROOT]

Starts `streamlit run app.py` over an existing data directory (one clustered collection; benchmarks/clicks.py builds
one and writes the BENCHMARKS.md section), opens each page once, then times every action from the click to the end
of the script run it started, read off the app's own websocket (the ForwardMsg "script finished" of a full run;
fragment runs do not count), with the action's visible result checked afterwards. Prints a JSON summary. The
browser test (tests/e2e/test_jobs_browser.py) uses the same `Clicks` on its small collection and records the times
without asserting them.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))
from tests.e2e.serving import new_page, open_when_up, serve  # noqa: E402

FINISHED = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
NAV = "[data-testid='stSidebarNav']"


class RunWatcher:
    """Every full script run the app finishes, with the time it finished (fragment runs are left out)."""

    def __init__(self, page) -> None:
        self.finished: list[float] = []
        self.lock = threading.Lock()
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            return
        try:
            msg = ForwardMsg.FromString(bytes(payload))
        except Exception:  # noqa: BLE001 - not a ForwardMsg (e.g. a cached message reference)
            return
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished == FINISHED:
            with self.lock:
                self.finished.append(time.perf_counter())

    def wait_after(self, started: float, page, timeout: float = 180.0) -> float:
        """Seconds from `started` to the first full run that finished after it."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                done = [t for t in self.finished if t > started]
            if done:
                return done[0] - started
            page.wait_for_timeout(20)
        raise TimeoutError("no script run finished")


class Clicks:
    """The four timed actions on the app open in `page` (the collection in use must be clustered)."""

    def __init__(self, page) -> None:
        self.page = page
        self.runs = RunWatcher(page)
        self.times: dict[str, list[float]] = {}

    def _timed(self, name: str, click, result) -> float:
        """Seconds from the click until the run it started has finished and its result is visible."""
        started = time.perf_counter()
        click()
        ran = self.runs.wait_after(started, self.page)
        result()
        seconds = time.perf_counter() - started
        self.times.setdefault(name, []).append(seconds)
        print(f"{name}: {seconds:.2f} s (the run ended after {ran:.2f} s)", file=sys.stderr, flush=True)
        self.page.wait_for_timeout(300)
        return seconds

    def open(self, name: str) -> float:
        """Open a page from the sidebar; timed as "open <name>"."""
        link = self.page.locator(NAV).get_by_role("link", name=name, exact=True)
        heading = "Label next" if name == "Label next" else name
        return self._timed(f"open {name}", link.click,
                           lambda: self.page.get_by_role("heading", name=heading).first.wait_for())

    def name_cluster(self, n: int, name: str) -> float:
        """Type a name into the n-th cluster's box and press "Name & label"; the result is its new heading."""
        box = self.page.locator("[class*='st-key-name_input_'] input").nth(n)
        box.fill(name)
        button = self.page.get_by_role("button", name="Name & label").nth(n)
        return self._timed("name a cluster", button.click,
                           lambda: self.page.get_by_role("heading", name=f"· {name}").first.wait_for())

    def confirm_page(self, label: str) -> float:
        """Answer the first image of the Label-next page with `label` (typed into its box), then "Confirm this
        page"; the result is the next round (another set of images)."""
        started = time.perf_counter()
        box = self.page.locator("[class*='st-key-fix_'] input").first
        box.fill(label)
        box.press("Enter")
        self.runs.wait_after(started, self.page)  # picking the label reruns the page (not timed)
        self.page.wait_for_timeout(300)
        before = self._review_ids()
        button = self.page.get_by_role("button", name="Confirm this page")

        def next_round() -> None:
            for _ in range(3600):
                now = self._review_ids()
                if now and now != before:
                    return
                self.page.wait_for_timeout(50)
            self.page.screenshot(path="/tmp/jobs1k/confirm-timeout.png", full_page=True)
            raise TimeoutError(f"the next round did not show: {sorted(before)[:4]} {sorted(now)[:4]}")

        return self._timed("confirm a Label-next page", button.first.click, next_round)

    def _review_ids(self) -> set[str]:
        return set(self.page.locator("[class*='st-key-review_']").evaluate_all(
            "els => els.map(e => [...e.classList].find(c => c.startsWith('st-key-review_')))"))

    def label_selection(self, label: str, share: float = 0.3) -> float:
        """Lasso the middle `share` of the map, then "Label selection"; the result is the emptied selection."""
        picked = self.page.get_by_text(re.compile(r"^\d+ images? selected")).first
        for wider in (share, 0.6, 0.9):  # a layout with an empty middle: a wider lasso
            lasso_middle(self.page, wider)
            try:
                picked.wait_for(timeout=30_000)
                break
            except PlaywrightTimeout:
                continue
        picked.wait_for(timeout=30_000)
        self.page.wait_for_timeout(500)
        self.page.get_by_label("Label", exact=True).fill(label)
        button = self.page.get_by_role("button", name="Label selection")
        return self._timed("label a map selection", button.click,
                           lambda: self.page.get_by_text("No images selected.").wait_for())

    def undo(self) -> float:
        """The page's "Undo: …" button; the result is the button naming the action before (or gone)."""
        button = self.page.get_by_role("button", name="Undo:").first
        before = button.inner_text()

        def undone() -> None:
            for _ in range(1200):
                now = self.page.get_by_role("button", name="Undo:")
                if not now.count() or now.first.inner_text() != before:
                    return
                self.page.wait_for_timeout(50)
            raise TimeoutError("the undo button still names the same action")

        return self._timed("undo", button.click, undone)

    def summary(self) -> dict[str, dict]:
        return {k: {"median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3), "n": len(v),
                    "times": [round(t, 3) for t in v]} for k, v in self.times.items()}


def lasso_middle(page, share: float = 0.3) -> None:
    """A lasso around the middle `share` of the map (a region of a few hundred points at 1,000 images)."""
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for()
    page.wait_for_timeout(800)
    box = plot.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    w, h = box["width"] * share, box["height"] * share
    page.mouse.move(cx - w / 2, cy - h / 2)
    page.mouse.down()
    for fx, fy in [(1, 0), (1, 1), (0, 1), (0, 0.02)]:
        page.mouse.move(cx - w / 2 + w * fx, cy - h / 2 + h * fy, steps=10)
    page.mouse.up()


def run_all(clicks: Clicks, rounds: int) -> dict:
    """The measured walk: name `rounds` clusters, undo the last naming and name it again; confirm `rounds` Label-next
    pages; label `rounds` map selections, each undone."""
    clicks.open("Clusters")
    for n in range(rounds):
        clicks.name_cluster(n, f"bench-{n}")
    clicks.undo()
    clicks.name_cluster(rounds - 1, f"bench-{rounds - 1}")
    clicks.open("Label next")
    for _ in range(rounds):
        clicks.confirm_page("bench-0")
    clicks.open("Map")
    for n in range(rounds):
        clicks.label_selection(f"picked-{n}")
        clicks.undo()
    return clicks.summary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="an existing REVSEARCH_DATA directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the checkout whose app.py is served")
    parser.add_argument("--log", type=Path, help="the server's output goes here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    log = open(args.log, "w") if args.log else subprocess.DEVNULL
    proc, url = serve(args.data, args.app_root.resolve(), log)
    try:
        with sync_playwright() as p:
            browser, page = new_page(p)
            clicks = Clicks(page)  # before the page opens its websocket
            open_when_up(page, url)
            page.get_by_role("heading", name="Search by image").wait_for()
            summary = run_all(clicks, args.rounds)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for name, row in summary.items():
        print(f"{name:28s} median {row['median_s']:.2f} s   max {row['max_s']:.2f} s   ({row['n']}×)", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
