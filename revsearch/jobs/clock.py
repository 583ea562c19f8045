"""One clock and one ETA for a whole run of adding images: model load, embedding, thumbnails, clusters, map.

The time left is what remains of the current phase plus the later phases. The embedding's part comes from the
throughput this run measures once it is warm: the first batch (model warm-up, listing and hashing the files) only
sets the starting point, and the rate is taken over the last WINDOW seconds of batches, so a machine that gets busier
or quieter moves the estimate. Until two batches past the first are in, the time left is unknown (None), not guessed.

The later phases are estimated from the number of images with LATER_PHASES, scaled to this run by how its embedding
rate compares with the reference rate of the collection's input handling, then by how long the finished later
phases took against their estimate; a later phase that counts its items (thumbnails) uses its own rate once it has
one. No Streamlit here: the job runner feeds it and the app words it (ui/progress_text.py).
"""

from __future__ import annotations

import time
from typing import Callable

from revsearch.indexing.adding import CLUSTERS, EMBEDDING, MAP, THUMBNAILS
from revsearch.precisions import FP32, INT8
from revsearch.projection import MIN_UMAP, REFIT_FRACTION

MODEL = "model"  # the phase before adding: loading the model (about 20 s on a first start here)
WARM_BATCHES = 2  # progress reports past the first one needed before the embedding rate is trusted
WINDOW = 20.0  # seconds of recent embedding progress the rate is measured over

# Seconds per image of the embedding at the reference speed, per input handling and precision (2 quiet CPU cores,
# Lite0, 640×480 photos through `index_folder`, each worker embedding its own photos on one thread: 108 images/s for
# int8 two views, 70 for fp32 two views; measured 2026-12-05), and the seconds the phases after embedding take at that
# speed, (fixed, per image): one quiet `benchmarks/jobs.py` run (1,000 photos, a fresh process, int8 two views:
# thumbnails 2.6 s, clusters 0.2 s, map 11.8 s, of which numba compiling takes about 5 s).
EMBED_PER_IMAGE = {("letterbox", FP32): 0.0068, ("letterbox+native", FP32): 0.0143,
                   ("letterbox", INT8): 0.0046, ("letterbox+native", INT8): 0.0093}
LATER_PHASES = {
    THUMBNAILS: (0.1, 0.0025),  # two sizes per image
    CLUSTERS: (0.1, 0.0001),
    MAP: (5.0, 0.0068),  # a first UMAP fit
}
QUICK = 0.5  # a step with little to do: PCA map, new images placed on the map or joining existing clusters
SPEED_RANGE = (0.25, 8.0)  # how far this run may be from the reference (a shared machine can be 6× slower)


class RunClock:
    """See the module docstring. `observe(done, total)` on every progress report; `remaining()` at any time."""

    def __init__(self, existing: int = 0, input_mode: str = "letterbox+native", precision: str = INT8,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.configure(existing, input_mode, precision)  # existing: images already in the collection (clusters, map)
        self.phase: str | None = None
        self.phase_started = self.started
        self.durations: dict[str, float] = {}
        self.images = 0  # images this run adds (the embedding total)
        self.speed = 1.0  # this run against the reference (2.0: twice as slow)
        self.samples: list[tuple[float, int]] = []  # (time, done) of the current phase's progress reports
        self.total = 0
        self.shown = 0.0

    def configure(self, existing: int, input_mode: str, precision: str) -> None:
        """The collection the run adds to: its images so far, its input handling and precision (the reference
        speed)."""
        self.existing = existing
        self.reference = EMBED_PER_IMAGE.get((input_mode, precision), max(EMBED_PER_IMAGE.values()))

    def start(self, phase: str) -> None:
        now = self.clock()
        self._close(now)
        self.phase, self.phase_started = phase, now
        self.samples, self.total = [], 0

    def _close(self, now: float) -> None:
        if self.phase is None:
            return
        self.durations[self.phase] = self.durations.get(self.phase, 0.0) + now - self.phase_started
        done = [p for p in LATER_PHASES if p in self.durations]
        estimated = sum(self._estimate(p, 1.0) for p in done)
        if done and estimated > 0:
            self.speed = _clamp(sum(self.durations[p] for p in done) / estimated)

    def observe(self, done: int, total: int) -> None:
        """A progress report of the current phase: `done` of `total` items (total 0: unknown yet)."""
        self.total = total
        if self.phase == EMBEDDING and total > 0:
            self.images = total
        if total > 0 and done > 0 and (not self.samples or done > self.samples[-1][1]):
            self.samples.append((self.clock(), done))
            if self.phase == EMBEDDING and (rate := self.rate()):
                self.speed = _clamp(1.0 / rate / self.reference)

    def rate(self) -> float | None:
        """Items per second of the current phase after its warm-up, or None until it is measured."""
        if len(self.samples) < 1 + WARM_BATCHES:  # the first report closes the warm-up: rates start from it
            return None
        last = self.samples[-1]
        base = next(s for s in self.samples if s[0] >= last[0] - WINDOW)  # the oldest report inside the window
        if base is last:
            base = self.samples[-2]
        seconds, items = last[0] - base[0], last[1] - base[1]
        return items / seconds if seconds > 0 and items > 0 else None

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

    def remaining(self) -> float | None:
        """Seconds left in the whole run, or None while unknown (the model loading, the first batches)."""
        if self.phase in (None, MODEL):
            return None
        now = self.clock()
        rate = self.rate()
        done = self.samples[-1][1] if self.samples else 0
        if self.phase == EMBEDDING:
            if self.total <= 0 or rate is None:
                return None
            left = max(0.0, (self.total - done) / rate - (now - self.samples[-1][0]))
        else:
            in_phase = now - self.phase_started
            estimate = self._estimate(self.phase, self.speed) if self.phase in LATER_PHASES else 0.0
            left = max(estimate - in_phase, 0.0)
            if rate is not None and self.total:  # the phase's own progress, once measured (a map's epochs come
                # after a neighbour search that reports nothing: the longer of the two is the safer word)
                left = max(left, (self.total - done) / rate - (now - self.samples[-1][0]))
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

    def breakdown(self) -> dict[str, float]:
        """Seconds per phase of the run so far: model, embedding, and the later phases together ("preparing")."""
        out = {p: self.durations[p] for p in (MODEL, EMBEDDING) if p in self.durations}
        preparing = sum(self.durations.get(p, 0.0) for p in LATER_PHASES)
        if preparing:
            out["preparing"] = preparing
        return out


def _clamp(speed: float) -> float:
    return min(SPEED_RANGE[1], max(SPEED_RANGE[0], speed))


__all__ = ["EMBED_PER_IMAGE", "LATER_PHASES", "MODEL", "QUICK", "RunClock", "WARM_BATCHES", "WINDOW"]
