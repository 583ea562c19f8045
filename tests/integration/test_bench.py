"""The benchmark program (benchmarks/bench.py) runs end to end in its tiny mode, as a real process, and writes every
row of issue 5's table where --out says.

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
PROGRAM = REPO / "benchmarks" / "bench.py"
DATASET = REPO.parent / "shared" / "datasets" / "clothing-small"

OTHER_SECTION = "<!-- learning:begin -->\n## Learning from labels\nwritten by another program\n<!-- learning:end -->\n"
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
    report, raw = out / "reports" / "BENCH.md", out / "bench.json"
    report.parent.mkdir()
    report.write_text(OTHER_SECTION)  # another program's section, already in the report
    before = (REPO / "BENCHMARKS.md").read_bytes()
    proc = subprocess.run(
        [sys.executable, str(PROGRAM), "--smoke", "--quiet", "--out", str(report), "--json", str(raw),
         "--dataset", str(DATASET)],  # generated inputs: the shared bench cache, made once
        cwd=out, capture_output=True, text=True, timeout=600,  # run from elsewhere: nothing depends on the cwd
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (REPO / "BENCHMARKS.md").read_bytes() == before  # the source tree's report is only written on request
    assert sorted(p.name for p in report.parent.iterdir()) == ["BENCH.md"]
    return report.read_text(encoding="utf-8"), json.loads(raw.read_text()), proc.stdout


def table_rows(markdown: str) -> list[list[str]]:
    lines = markdown.split("## Targets", 1)[1].split("\n\n", 2)[1].splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]


def test_report_keeps_the_sections_of_other_programs(smoke_report):
    text, _, _ = smoke_report
    assert OTHER_SECTION.strip() in text and text.count("<!-- suite:begin -->") == 1


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
    assert raw["raw"]["quality"]["cos_fp32_min"] >= 0.999  # same inputs through both backends, both in fp32
    assert raw["raw"]["quality"]["cos_min"] >= 0.98  # the default precision (int8) stays close to them
    assert raw["raw"]["add"]["inproc"]["indexed"] == 10 and raw["raw"]["add"]["cli"]["indexed"] == 10


def test_profile_section(smoke_report):
    text, raw, _ = smoke_report
    assert "## Profile" in text
    for stage in ("decode, full (naive)", "decode, JPEG draft (revsearch)", "hash", "prepare"):
        assert stage in text
    assert set(raw["profile"]) >= {"vga", "mp12", "model"}


def test_profile_measures_the_bomb_guards(smoke_report):
    """The decoder's refusal of decompression bombs is timed here, not in tests/unit."""
    text, raw, _ = smoke_report
    assert "| guard against decompression bombs (1 thread) | ms |" in text
    assert set(raw["profile"]["guards"]) == {"load_image refuses a 16000² PNG bomb",
                                             "load_image refuses a 16000² JPEG bomb",
                                             "probe reads a 16000² PNG bomb's header"}


def test_out_is_required() -> None:
    proc = subprocess.run([sys.executable, str(PROGRAM), "--smoke"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--out" in proc.stderr


def test_missing_out_folder_is_refused_before_measuring(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "BENCH.md"
    proc = subprocess.run([sys.executable, str(PROGRAM), "--smoke", "--quiet", "--out", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "does not exist" in proc.stderr and not target.parent.exists()


def test_revsearch_cli_has_no_bench_command() -> None:
    """The suite is not part of the package: the CLI does not offer it."""
    proc = subprocess.run([sys.executable, "-m", "revsearch", "bench", "--smoke"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice: 'bench'" in proc.stderr
