"""CLI progress into a log: when stderr is not a terminal, a few plain lines, never a flood of redrawn bars.

A real `python -m revsearch index` process with stderr on a pipe (like `revsearch index … 2> log`), one image per
batch so the indexer reports progress 40 times: the log gets at most one line per LOG_INTERVAL seconds of the run
(plus one per step that starts), each a whole line with done/total. Under tqdm it was a fragment per update.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from revsearch.cli.common import LOG_INTERVAL, LogLines

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"


def test_progress_into_a_pipe_is_a_few_plain_lines(tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for src in sorted(DEMO.rglob("*.jpg"))[:40]:
        shutil.copy2(src, folder / f"{src.parent.name}-{src.name}")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "revsearch", "index", str(folder), "-c", str(tmp_path / "coll"),
                           "--batch-size", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    fragments = [f for f in re.split(r"[\r\n]", proc.stderr) if f.strip()]
    progress = [f for f in fragments if f.startswith("revsearch: ")]
    assert progress, proc.stderr  # progress is still reported …
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr  # … as whole lines, no redrawn bar
    steps = 3  # scanning (no total yet), embedding, and a final line
    assert len(progress) <= steps + wall / LOG_INTERVAL, progress
    assert any(re.search(r"\d+/\d+ img", line) for line in progress)


def test_log_lines_are_throttled_and_carry_rate_and_eta():
    now = [0.0]
    out = io.StringIO()
    lines = LogLines("img", out, interval=5.0, clock=lambda: now[0])
    lines(0, 0, "scanning /photos")
    for done in range(1, 101):  # 100 updates over 20 s
        now[0] += 0.2
        lines(done, 100, f"photo{done}.jpg")
    written = out.getvalue().splitlines()
    assert written[0] == "revsearch: scanning /photos"
    assert 4 <= len(written) <= 7  # the first of the step, one per 5 s, the last
    assert written[-1].startswith("revsearch: 100/100 img · 5.0 img/s")
    assert any("ETA" in line for line in written[1:-1])
