"""Pixel measures for images indexed before indexing took them: decode each once more, measure, store.

Resumable: measures are stored a batch at a time, so an interrupted run keeps what it did and the next one goes on.
A file that changed since it was indexed (size or time differ from its row) is left for the next `index`, which
re-embeds and measures it; a file that cannot be read any more is counted and left without measures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from revsearch import images
from revsearch.collection import Collection, audit_store
from revsearch.embed.embedder import cpu_threads
from revsearch.indexing import pixel_measures
from revsearch.indexing.pipeline import ordered_map
from revsearch.progress import Progress, report

DECODE_TARGET = 224  # the decode scale indexing uses (the models' input side): the same pixels, the same measures
BATCH = 64  # measures stored per transaction


@dataclass
class Measured:
    measured: int = 0
    changed: int = 0  # files changed since indexing: measured by the next index run
    unreadable: int = 0

    def as_dict(self) -> dict:
        return {"measured": self.measured, "changed": self.changed, "unreadable": self.unreadable}


def store(coll: Collection, rows: Sequence[tuple[int, str | None, np.ndarray]]) -> None:
    """Keep pixel measures taken elsewhere (another pipeline, a synthetic benchmark) under today's definition."""
    audit_store.save_measures(coll, rows, pixel_measures.VERSION)


def measure_missing(coll: Collection, progress: Progress | None = None) -> Measured:
    """Take the pixel measures of every present indexed image that has none (or outdated ones)."""
    todo = audit_store.unmeasured(coll, pixel_measures.VERSION)
    done = Measured()
    if not todo:
        return done
    report(progress, 0, len(todo), f"measuring {len(todo)} images indexed before pixel measures")
    batch: list[tuple[int, str | None, np.ndarray]] = []
    for n, (entry, values) in enumerate(ordered_map(_measure, todo, cpu_threads(), lookahead=2 * BATCH), 1):
        if isinstance(values, np.ndarray):
            batch.append((entry[0], entry[2], values))
            done.measured += 1
        elif values == "changed":
            done.changed += 1
        else:
            done.unreadable += 1
        if len(batch) >= BATCH or n == len(todo):
            audit_store.save_measures(coll, batch, pixel_measures.VERSION)
            batch = []
            report(progress, n, len(todo), os.path.basename(entry[1]))
    return done


def _measure(entry: tuple[int, str, str | None, int | None, int | None]) -> np.ndarray | str:
    """The measures of one file, or why there are none ('changed', 'unreadable')."""
    _, path, _, size, mtime_ns = entry
    try:
        st = os.stat(path)
    except OSError:
        return "unreadable"
    if (size, mtime_ns) != (st.st_size, st.st_mtime_ns):
        return "changed"
    img = images.load_image(path, target=DECODE_TARGET)
    if isinstance(img, images.Skip):
        return "unreadable"
    return pixel_measures.measure(img)
