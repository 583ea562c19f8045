"""The ETA of a run (revsearch.jobs.RunClock) and the app's progress and summary wording (ui/progress_text.py: no
Streamlit, so no page needed)."""

from __future__ import annotations

import pytest

from revsearch.indexing import IndexReport
from revsearch.indexing.adding import CLUSTERS, EMBEDDING, MAP, PHASES, THUMBNAILS
from revsearch.jobs import Job, RunClock
from revsearch.jobs.clock import EMBED_PER_IMAGE, LATER_PHASES, MODEL, WINDOW
from revsearch.precisions import INT8
from ui.progress_text import (PHASE_LABELS, format_duration, index_summary, job_outcome, job_progress, job_title,
                              run_text, step_text)


class Clock:
    """A hand-moved clock for RunClock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def later(n: int, speed: float = 1.0) -> float:
    return sum(fixed + per * n for fixed, per in LATER_PHASES.values()) * speed


def test_the_eta_is_the_measured_throughput_after_warm_up_not_a_first_batch_guess():
    t = Clock()
    run = RunClock(input_mode="letterbox", clock=t)
    run.start(MODEL)
    assert run.remaining() is None  # nothing known while the model loads
    assert run_text(run, "Adding", 0, 0, "")[1] == "Adding — Loading the model…"
    t.now += 20  # the model takes 20 s
    run.start(EMBEDDING)
    run.observe(0, 700)
    t.now += 12  # listing and hashing the files, the model's first batch: slow, and not what the rest will be
    run.observe(32, 700)
    assert run.remaining() is None and run_text(run, "Adding", 32, 700, "a.jpg")[1].endswith("estimating the time "
                                                                                                "left…")
    for done in (64, 96):  # then 32 images per second
        t.now += 1.0
        run.observe(done, 700)
    rate = 32.0
    speed = (1 / rate) / EMBED_PER_IMAGE[("letterbox", INT8)]
    assert run.rate() == pytest.approx(rate)
    assert run.remaining() == pytest.approx((700 - 96) / rate + later(700, speed))
    t.now += 0.5  # between two reports the time left keeps going down
    assert run.remaining() == pytest.approx((700 - 96) / rate - 0.5 + later(700, speed))
    fraction, text = run_text(run, "Adding", 96, 700, "b.jpg")
    assert text.startswith("Adding — Embedding: 96 / 700 images · 32.0 /s · about ")
    assert text.endswith(" left in all") and 0 < fraction < 0.5


def test_the_rate_follows_the_last_seconds_of_the_run():
    t = Clock()
    run = RunClock(clock=t)
    run.start(EMBEDDING)
    done = 0
    for _ in range(40):  # 10 images/s for 40 s
        t.now += 1.0
        done += 10
        run.observe(done, 10_000)
    for _ in range(int(WINDOW) + 5):  # then the machine gets busy: 4 images/s
        t.now += 1.0
        done += 4
        run.observe(done, 10_000)
    assert run.rate() == pytest.approx(4.0)


def test_later_phases_are_rescaled_by_how_long_the_finished_ones_took():
    t = Clock()
    run = RunClock(input_mode="letterbox", clock=t)
    run.start(EMBEDDING)
    for done in (100, 200, 300, 400):
        run.observe(done, 400)
        t.now += 400 * EMBED_PER_IMAGE[("letterbox", INT8)] / 4  # exactly the reference speed: no rescaling
    run.start(THUMBNAILS)
    t.now += 2 * (LATER_PHASES[THUMBNAILS][0] + LATER_PHASES[THUMBNAILS][1] * 400)  # twice its estimate
    run.start(CLUSTERS)
    expect = 2 * sum(LATER_PHASES[p][0] + LATER_PHASES[p][1] * 400 for p in (CLUSTERS, MAP))
    assert run.remaining() == pytest.approx(expect)
    t.now += 6
    run.start(MAP)
    t.now += 30
    seconds = run.finish()
    assert seconds == pytest.approx(t.now - 100.0)  # click to end
    assert set(run.breakdown()) == {EMBEDDING, "preparing"}


def test_small_runs_expect_a_quick_map_and_the_bar_never_goes_back():
    t = Clock()
    run = RunClock(clock=t)
    run.start(THUMBNAILS)  # 6 images: a PCA map, no UMAP compile to wait for
    run.images = 6
    assert run.remaining() < 2
    first = run.fraction(run.remaining())
    assert run.fraction(1000.0) == first  # a worse estimate later does not pull the bar back
    big = RunClock(existing=5000, clock=t)  # a few images added to a big collection: clusters and map are quick
    big.start(CLUSTERS)
    big.images = 10
    assert big.remaining() < LATER_PHASES[MAP][0]


def test_format_duration():
    assert [format_duration(s) for s in (0, 12.4, 185, 3725)] == ["0 s", "12 s", "3 min 05 s", "1 h 02 min"]


def test_step_text_prefixes_messages_with_the_step():
    assert step_text("Laying out the map", "UMAP: epoch 40/200") == "Laying out the map: UMAP: epoch 40/200"
    assert step_text("Making thumbnails", "making thumbnails") == "Making thumbnails"  # not said twice
    assert step_text("Grouping similar images", "") == "Grouping similar images"


def test_every_phase_has_words():
    assert set(PHASE_LABELS) == set(PHASES) | {MODEL}


def finished_index(report: IndexReport, rejected=(), found: int = 1) -> dict:
    return {"report": report.as_dict(), "rejected": [list(r) for r in rejected], "seconds": 43.2,
            "phases": {MODEL: 20.0, EMBEDDING: 2.0, "preparing": 0.2}, "found": found}


def test_index_summary_keeps_refused_uploads_apart_from_the_skipped_files_the_collection_lists():
    result = IndexReport(indexed=3, updated=1, unchanged=2, removed=1, seconds=1.5,
                         skipped=[("/photos/broken.jpg", "truncated")],
                         duplicates=[("/photos/b.jpg", "/photos/a.jpg")], missing=2,
                         moves=[("/photos/c.jpg", "/photos/d/c.jpg")], warnings=["/x is empty or unreadable"])
    summary = index_summary(finished_index(result, [("notes.txt", "not an image")]))
    assert summary == {"indexed": 4, "unchanged": 2, "removed": 1, "seconds": 43.2,
                       "breakdown": "model 20 s · embedding 2 s",
                       "skipped": [("broken.jpg", "truncated")], "refused": [("notes.txt", "not an image")],
                       "duplicates": [("b.jpg", "a.jpg")], "missing": 2, "moved": 1,
                       "warnings": ["/x is empty or unreadable"], "found": 1}


def test_job_words():
    folder = Job("a", "/c", "index", {"folder": "/home/me/Pictures"})
    folder.clock.start(EMBEDDING)
    folder.done, folder.total = 356, 700
    assert job_title(folder) == "Indexing Pictures"
    assert job_progress(folder)[1] == "Indexing Pictures — Embedding: 356 / 700 images · estimating the time left…"
    assert job_title(Job("b", "/c", "index", {"files": ["/x.jpg"] * 3})) == "Adding 3 files"
    assert job_title(Job("c", "/c", "recluster", {"k": 8})) == "Re-clustering into 8 groups"
    failed = Job("d", "/c", "learn", {}, state="failed", error="disk full")
    assert job_outcome(failed) == "Learning from your labels did not work: disk full"
    stopped = Job("e", "/c", "index", {"folder": "/p"}, state="interrupted", done=356, total=700)
    assert job_outcome(stopped) == "Indexing p was interrupted at 356 of 700 when the server stopped"
    empty = Job("f", "/c", "index", {"folder": "/p"}, state="done", result=finished_index(IndexReport(), found=0))
    assert job_outcome(empty) == "Indexing p: no image found"
