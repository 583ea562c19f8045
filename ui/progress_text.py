"""Progress and summary wording for people: ETAs, step names, the numbers an indexing run shows.

No Streamlit here, so the wording is unit-tested without a page; `ui/widgets.py` draws it. The backend reports
numbers and phase names only (see `revsearch.adding`); what they are called on screen is decided here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

from revsearch.adding import CLUSTERS, EMBEDDING, MAP, THUMBNAILS
from revsearch.collection import IndexReport

PHASE_LABELS = {
    EMBEDDING: "Embedding",
    THUMBNAILS: "Making thumbnails",
    CLUSTERS: "Grouping similar images",
    MAP: "Laying out the map",
}


def format_duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min — for ETAs."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressText:
    """Turns Progress callbacks into (fraction, "34 / 80 images · 7.1 /s · about 6 s left") for a progress bar."""

    def __init__(self, unit: str = "images", clock: Callable[[], float] = time.perf_counter) -> None:
        self.unit = unit
        self.clock = clock
        self.started = clock()

    def __call__(self, done: int, total: int, message: str = "") -> tuple[float, str]:
        now = self.clock()
        if total <= 0:
            return 0.0, message or "starting…"
        fraction = min(1.0, done / total)
        text = f"{done} / {total} {self.unit}"
        elapsed = now - self.started
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            text += f" · {rate:.1f} /s"
            if done < total:
                text += f" · about {format_duration((total - done) / rate)} left"
        elif done == 0:
            text += " · estimating time left…"
        return fraction, text


def step_text(label: str, message: str) -> str:
    """A sub-step's message prefixed with what the step is ("Laying out the map: UMAP layout: epoch 40/200").

    A message that already says the step ("making thumbnails" under "Making thumbnails") is not said twice.
    """
    if not message or message.lower().startswith(label.lower()):
        return label
    return f"{label}: {message}"


def report_summary(result: IndexReport, rejected: Sequence[tuple[str, str]] = ()) -> dict:
    """The numbers the app's summary shows; `rejected` uploads count as skipped, with their reasons."""
    skipped = [(Path(p).name if os.sep in p else p, r) for p, r in result.skipped] + list(rejected)
    return {
        "indexed": result.indexed + result.updated,
        "unchanged": result.unchanged,
        "removed": result.removed,
        "skipped": skipped,
        "duplicates": [(Path(p).name, Path(o).name) for p, o in result.duplicates],
        "seconds": result.seconds,
        "missing": result.missing,
        "moved": len(result.moves),
        "warnings": list(result.warnings),
    }
