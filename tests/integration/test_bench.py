"""The benchmark suite runs end to end in its tiny mode and reports every row of issue 5's table.

Not a performance test: nothing here looks at a time, only at the shape of the report.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO.parent / "shared" / "datasets" / "clothing-small"

ROWS = (
    "end-to-end `index` throughput, 640×480 JPEGs",
    "end-to-end `index` throughput, 12-megapixel JPEGs",
    "query p50, embed + search,",
    "ANN at ",
    "add 10 images to a ",
    "UMAP of ",
    "clothing-small mAP",
)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, str]:
    if not (DATASET / "labels.csv").is_file():
        pytest.skip(f"clothing-small not found at {DATASET}")
    out = tmp_path_factory.mktemp("bench")
    report, raw = out / "BENCH.md", out / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "revsearch", "bench", "--smoke", "--quiet", "--out", str(report), "--json", str(raw),
         "--dataset", str(DATASET)],  # generated inputs: the shared bench cache, made once
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return report.read_text(encoding="utf-8"), json.loads(raw.read_text()), proc.stdout


def table_rows(markdown: str) -> list[list[str]]:
    lines = markdown.split("## Targets", 1)[1].split("\n\n", 2)[1].splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]


def test_report_has_machine_and_every_row(smoke_report):
    text, _, stdout = smoke_report
    assert "## Machine" in text and "onnxruntime" in text and "faiss" in text and "torch" in text
    rows = table_rows(text)
    assert rows[0] == ["measure", "naive (measured)", "revsearch (measured)", "target", "ratio", "met?"]
    body = rows[2:]
    for prefix in ROWS:
        matching = [r for r in body if r[0].startswith(prefix)]
        assert len(matching) == 1, f"no single row for {prefix!r} in {[r[0] for r in body]}"
        assert matching[0][5] in ("yes", "**no**", "n/a")
    for prefix in ROWS:  # the table is printed on stdout too
        assert prefix in stdout


def test_rows_were_measured(smoke_report):
    text, raw, _ = smoke_report
    assert not raw["raw"].get("errors"), raw["raw"].get("errors")
    rows = {r[0]: r for r in table_rows(text)[2:]}
    measured = [r for name, r in rows.items() if not name.startswith("UMAP")]  # UMAP is skipped in smoke mode
    for r in measured:
        assert r[2] != "n/a", r
    vga = next(r for name, r in rows.items() if name.startswith(ROWS[0]))
    assert re.fullmatch(r"[\d.]+ img/s", vga[1]) and re.fullmatch(r"[\d.]+ img/s", vga[2])
    assert raw["raw"]["quality"]["cos_min"] >= 0.999  # same inputs through both backends
    assert raw["raw"]["add"]["inproc"]["indexed"] == 10 and raw["raw"]["add"]["cli"]["indexed"] == 10


def test_profile_section(smoke_report):
    text, raw, _ = smoke_report
    assert "## Profile" in text
    for stage in ("decode, full (naive)", "decode, JPEG draft (revsearch)", "hash", "prepare"):
        assert stage in text
    assert set(raw["profile"]) >= {"vga", "mp12", "model"}
