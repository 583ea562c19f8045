"""Progress and summary wording for people: ETAs, step names, the numbers an indexing run shows.

No Streamlit here, so the wording is unit-tested without a page; `ui/widgets.py` draws it. The backend reports
numbers and phase names only (see `revsearch.indexing.adding`); what they are called on screen is decided here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

from revsearch.indexing.adding import CLUSTERS, EMBEDDING, MAP, THUMBNAILS
from revsearch.indexing import IndexReport
from revsearch.projection import MIN_UMAP, REFIT_FRACTION

MODEL = "model"  # the app's phase before adding: loading the model (about 20 s on a first start here)

PHASE_LABELS = {
    MODEL: "Loading the model",
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


# Seconds the phases after embedding take: (fixed, per image), measured on this machine (2 shared CPU cores, Lite0,
# fresh process, 713 clothing photos: embedding 17.2 s, thumbnails 4.8 s, clusters 2.8 s, map 20.0 s). They only
# seed the estimate: the run's own measurements take over as phases end (see RunClock).
EMBED_PER_IMAGE = 0.024  # the embedding speed the estimates below were measured at
LATER_PHASES = {
    THUMBNAILS: (0.2, 0.0065),  # two sizes per image
    CLUSTERS: (1.0, 0.0025),
    MAP: (9.0, 0.0155),  # a first UMAP fit: numba compiling is most of the fixed part
}
QUICK = 0.5  # a step with little to do: PCA map, new images placed on the map or joining existing clusters


class RunClock:
    """One clock and one ETA for a whole run of adding images: model load, embedding, thumbnails, clusters, map.

    The time left is what remains of the current phase (from its own rate when it counts items) plus the later
    phases, estimated from the number of images with LATER_PHASES scaled to this machine: first by how the
    embedding rate compares with EMBED_PER_IMAGE, then by how long the finished later phases took against their
    estimate. `elapsed()` is wall time from the click, model load and preparation included.
    """

    def __init__(self, existing: int = 0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.existing = existing  # images already in the collection (clusters and the map cover them too)
        self.phase: str | None = None
        self.phase_started = self.started
        self.durations: dict[str, float] = {}
        self.images = 0  # images this run adds (the embedding total)
        self.speed = 1.0  # this machine against the reference (1.0: as measured, 2.0: twice as slow)
        self.shown = 0.0

    def start(self, phase: str) -> None:
        now = self.clock()
        self._close(now)
        self.phase, self.phase_started = phase, now

    def _close(self, now: float) -> None:
        if self.phase is None:
            return
        took = now - self.phase_started
        self.durations[self.phase] = self.durations.get(self.phase, 0.0) + took
        done = [p for p in LATER_PHASES if p in self.durations]
        if done:
            estimated = sum(self._estimate(p, 1.0) for p in done)
            self.speed = _clamp(sum(self.durations[p] for p in done) / estimated if estimated > 0 else 1.0)

    def _estimate(self, phase: str, speed: float) -> float:
        fixed, per_image = LATER_PHASES[phase]
        n = self.images if phase == THUMBNAILS else self.images + self.existing
        if self.images == 0:
            return 0.0
        if phase == CLUSTERS and self.existing:  # new images join the existing clusters
            return QUICK * speed
        if phase == MAP and (n < MIN_UMAP or self.images <= REFIT_FRACTION * self.existing):
            return QUICK * speed  # a PCA map, or new images placed on the existing map
        return (fixed + per_image * n) * speed

    def remaining(self, done: int, total: int) -> float | None:
        """Seconds left in the whole run, or None while unknown (the model loading, files being listed)."""
        if self.phase in (None, MODEL) or (self.phase == EMBEDDING and total <= 0):
            return None
        now = self.clock()
        in_phase = now - self.phase_started
        if self.phase == EMBEDDING:
            self.images = total
            if done <= 0:
                return None
            per_image = in_phase / done
            self.speed = _clamp(per_image / EMBED_PER_IMAGE)
            left = (total - done) * per_image
        else:
            estimate = self._estimate(self.phase, self.speed) if self.phase in LATER_PHASES else 0.0
            left = max(estimate - in_phase, estimate * (1 - done / total) if total else 0.0, 0.0)
            if total and 0 < done < total:  # the phase's own progress, when it has some, refines its part
                left = min(left, in_phase * (total - done) / done) if in_phase > 1 else left
        later = list(LATER_PHASES)
        after = later[later.index(self.phase) + 1:] if self.phase in later else later
        return left + sum(self._estimate(p, self.speed) for p in after)

    def fraction(self, remaining: float | None) -> float:
        """Share of the run done, by time; never moves backwards."""
        if remaining is not None:
            elapsed = self.elapsed()
            self.shown = max(self.shown, min(0.99, elapsed / (elapsed + remaining)) if elapsed > 0 else 0.0)
        return self.shown

    def elapsed(self) -> float:
        return self.clock() - self.started

    def finish(self) -> float:
        """End the run; its wall time in seconds (what the summary reports)."""
        self._close(self.clock())
        self.phase = None
        return self.elapsed()

    def breakdown(self) -> str:
        """'model 18 s · embedding 24 s · preparing 19 s' — where the time of a finished run went."""
        parts = []
        if self.durations.get(MODEL, 0) >= 0.5:
            parts.append(f"model {format_duration(self.durations[MODEL])}")
        if EMBEDDING in self.durations:
            parts.append(f"embedding {format_duration(self.durations[EMBEDDING])}")
        preparing = sum(self.durations.get(p, 0.0) for p in LATER_PHASES)
        if preparing >= 0.5:
            parts.append(f"preparing the pages {format_duration(preparing)}")
        return " · ".join(parts)


def _clamp(speed: float) -> float:
    return min(4.0, max(0.25, speed))


def run_text(clock: RunClock, label: str, done: int, total: int, message: str) -> tuple[float, str]:
    """(fraction of the whole run, "Embedding: 34 / 80 images · about 40 s left in all") for the one bar."""
    phase = clock.phase or ""
    title = PHASE_LABELS.get(phase, phase)
    if phase == MODEL:
        return clock.fraction(None), f"{label} — {title}…"
    if phase == EMBEDDING and total > 0:
        detail = f"{done} / {total} images"
        elapsed = clock.clock() - clock.phase_started
        if done > 0 and elapsed > 0:
            detail += f" · {done / elapsed:.1f} /s"
    else:
        detail = step_text(title, message)[len(title):].lstrip(": ") if message else ""
        if total:
            detail = (detail + " " if detail else "") + f"({min(1.0, done / total):.0%})"
    left = clock.remaining(done, total)
    when = f"about {format_duration(left)} left in all" if left is not None else "estimating the time left…"
    text = f"{label} — {title}" + (f": {detail}" if detail else "") + f" · {when}"
    return clock.fraction(left), text


def step_text(label: str, message: str) -> str:
    """A sub-step's message prefixed with what the step is ("Laying out the map: UMAP layout: epoch 40/200").

    A message that already says the step ("making thumbnails" under "Making thumbnails") is not said twice.
    """
    if not message or message.lower().startswith(label.lower()):
        return label
    return f"{label}: {message}"


def report_summary(result: IndexReport, rejected: Sequence[tuple[str, str]] = (), seconds: float | None = None,
                   breakdown: str = "") -> dict:
    """The numbers the app's summary shows; `rejected` uploads count as skipped, with their reasons.

    `seconds` is the run's wall time (from the click, model load and preparing the pages included); without it,
    the indexing alone."""
    skipped = [(Path(p).name if os.sep in p else p, r) for p, r in result.skipped] + list(rejected)
    return {
        "indexed": result.indexed + result.updated,
        "unchanged": result.unchanged,
        "removed": result.removed,
        "skipped": skipped,
        "duplicates": [(Path(p).name, Path(o).name) for p, o in result.duplicates],
        "seconds": result.seconds if seconds is None else seconds,
        "breakdown": breakdown,
        "missing": result.missing,
        "moved": len(result.moves),
        "warnings": list(result.warnings),
    }
