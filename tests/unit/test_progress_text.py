"""The app's progress and summary wording (ui/progress_text.py: no Streamlit, so no page needed)."""

from __future__ import annotations

from revsearch.indexing.adding import CLUSTERS, EMBEDDING, MAP, PHASES, THUMBNAILS
from revsearch.indexing import IndexReport
from ui.progress_text import (LATER_PHASES, MODEL, PHASE_LABELS, RunClock, format_duration, report_summary, run_text,
                              step_text)


class Clock:
    """A hand-moved clock for RunClock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_eta_covers_every_phase_and_the_total_is_wall_time():
    t = Clock()
    run = RunClock(clock=t)
    run.start(MODEL)
    assert run.remaining(0, 0) is None  # nothing known while the model loads
    assert run_text(run, "Adding", 0, 0, "")[1] == "Adding — Loading the model…"
    t.now += 20  # the model takes 20 s
    run.start(EMBEDDING)
    assert run_text(run, "Adding", 0, 0, "scanning")[1].endswith("estimating the time left…")
    t.now += 2.4
    left = run.remaining(100, 713)  # 0.024 s per image: exactly the reference speed
    later = sum(fixed + per * 713 for fixed, per in LATER_PHASES.values())
    assert abs(left - (613 * 0.024 + later)) < 1e-6  # the rest of the embedding AND every later phase
    fraction, text = run_text(run, "Adding", 100, 713, "a.jpg")
    assert text.startswith("Adding — Embedding: 100 / 713 images · 41.7 /s · about ")
    assert text.endswith(" left in all") and 0 < fraction < 0.5
    t.now += 14.7
    run.start(THUMBNAILS)
    t.now += 2 * (0.2 + 0.0065 * 713)  # thumbnails take twice their estimate: the later phases are rescaled
    run.start(CLUSTERS)
    assert abs(run.remaining(0, 0) - 2 * sum(LATER_PHASES[p][0] + LATER_PHASES[p][1] * 713
                                             for p in (CLUSTERS, MAP))) < 1e-6
    t.now += 6
    run.start(MAP)
    t.now += 30
    assert abs(run.finish() - (20 + 2.4 + 14.7 + 2 * (0.2 + 0.0065 * 713) + 6 + 30)) < 1e-9  # click to end
    assert run.breakdown() == "model 20 s · embedding 17 s · preparing the pages 46 s"


def test_small_runs_expect_a_quick_map_and_the_bar_never_goes_back():
    t = Clock()
    run = RunClock(clock=t)
    run.start(EMBEDDING)
    t.now += 0.12
    left = run.remaining(5, 6)  # 6 images at the reference speed: a PCA map, no UMAP compile to wait for
    assert left < 2
    first = run.fraction(left)
    assert run.fraction(1000.0) == first  # a worse estimate later does not pull the bar back
    # a few images added to a big collection join its clusters and are placed on its map: quick too
    big = RunClock(existing=5000, clock=t)
    big.start(EMBEDDING)
    t.now += 0.24
    assert big.remaining(10, 10) < LATER_PHASES[MAP][0]


def test_format_duration():
    assert [format_duration(s) for s in (0, 12.4, 185, 3725)] == ["0 s", "12 s", "3 min 05 s", "1 h 02 min"]


def test_step_text_prefixes_messages_with_the_step():
    assert step_text("Laying out the map", "UMAP: epoch 40/200") == "Laying out the map: UMAP: epoch 40/200"
    assert step_text("Making thumbnails", "making thumbnails") == "Making thumbnails"  # not said twice
    assert step_text("Grouping similar images", "") == "Grouping similar images"


def test_every_phase_has_words():
    assert set(PHASE_LABELS) == set(PHASES) | {MODEL}


def test_report_summary_counts_rejected_uploads_as_skipped():
    result = IndexReport(indexed=3, updated=1, unchanged=2, removed=1, seconds=1.5,
                         skipped=[("/photos/broken.jpg", "truncated")],
                         duplicates=[("/photos/b.jpg", "/photos/a.jpg")], missing=2,
                         moves=[("/photos/c.jpg", "/photos/d/c.jpg")], warnings=["/x is empty or unreadable"])
    summary = report_summary(result, [("notes.txt", "not an image")])
    assert summary == {"indexed": 4, "unchanged": 2, "removed": 1, "seconds": 1.5, "breakdown": "",
                       "skipped": [("broken.jpg", "truncated"), ("notes.txt", "not an image")],
                       "duplicates": [("b.jpg", "a.jpg")], "missing": 2, "moved": 1,
                       "warnings": ["/x is empty or unreadable"]}


def test_report_summary_reports_the_wall_time_of_the_run():
    result = IndexReport(indexed=3, seconds=1.5)
    summary = report_summary(result, seconds=43.2, breakdown="model 20 s · embedding 2 s")
    assert summary["seconds"] == 43.2 and summary["breakdown"] == "model 20 s · embedding 2 s"
