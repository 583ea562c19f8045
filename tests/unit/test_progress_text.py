"""The app's progress and summary wording (ui/progress_text.py: no Streamlit, so no page needed)."""

from __future__ import annotations

from revsearch.adding import PHASES
from revsearch.collection import IndexReport
from ui.progress_text import PHASE_LABELS, ProgressText, format_duration, report_summary, step_text


def test_progress_text_eta():
    clock = iter([0.0, 5.0, 20.0, 20.0]).__next__
    text = ProgressText(clock=clock)
    assert text(0, 0, "scanning") == (0.0, "scanning")
    fraction, line = text(20, 80)
    assert fraction == 0.25 and line == "20 / 80 images · 1.0 /s · about 1 min 00 s left"
    assert text(80, 80)[1] == "80 / 80 images · 4.0 /s"


def test_format_duration():
    assert [format_duration(s) for s in (0, 12.4, 185, 3725)] == ["0 s", "12 s", "3 min 05 s", "1 h 02 min"]


def test_step_text_prefixes_messages_with_the_step():
    assert step_text("Laying out the map", "UMAP: epoch 40/200") == "Laying out the map: UMAP: epoch 40/200"
    assert step_text("Making thumbnails", "making thumbnails") == "Making thumbnails"  # not said twice
    assert step_text("Grouping similar images", "") == "Grouping similar images"


def test_every_phase_has_words():
    assert set(PHASE_LABELS) == set(PHASES)


def test_report_summary_counts_rejected_uploads_as_skipped():
    result = IndexReport(indexed=3, updated=1, unchanged=2, removed=1, seconds=1.5,
                         skipped=[("/photos/broken.jpg", "truncated")],
                         duplicates=[("/photos/b.jpg", "/photos/a.jpg")], missing=2,
                         moves=[("/photos/c.jpg", "/photos/d/c.jpg")], warnings=["/x is empty or unreadable"])
    summary = report_summary(result, [("notes.txt", "not an image")])
    assert summary == {"indexed": 4, "unchanged": 2, "removed": 1, "seconds": 1.5,
                       "skipped": [("broken.jpg", "truncated"), ("notes.txt", "not an image")],
                       "duplicates": [("b.jpg", "a.jpg")], "missing": 2, "moved": 1,
                       "warnings": ["/x is empty or unreadable"]}
