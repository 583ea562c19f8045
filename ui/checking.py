"""The Check page's audit: run (or reuse) `revsearch.audit.audit` for the current collection, and the overlap check.

Up to ON_DEMAND_ABOVE images the audit runs in the page (a few seconds; pixel measures missing from an older
collection are taken first, with a progress bar) and again whenever labels, confirmations or vectors change. Past it
the audit starts on a click and runs in a background thread (pages stay usable); its result is kept for the server
and shown until the person checks again, with a note when the collection changed since.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import streamlit as st

from revsearch import audit
from revsearch.audit import AuditReport, Overlap
from revsearch.auth import guarded
from revsearch.collection import Collection
from revsearch.workspace import CollectionInfo
from ui import access, state, widgets

ON_DEMAND_ABOVE = 20_000


@dataclass
class Checks:
    """Per collection directory: the last audit (with the version it answered), the background one (a future), its
    progress. A failed audit's exception stays in its future and is shown by the page."""

    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="audit"))
    results: dict[str, tuple[str, AuditReport]] = field(default_factory=dict)
    jobs: dict[str, Future] = field(default_factory=dict)
    progress: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def running(self, directory: str) -> bool:
        job = self.jobs.get(directory)
        return job is not None and not job.done()

    def error(self, directory: str) -> str | None:
        job = self.jobs.get(directory)
        failure = job.exception() if job is not None and job.done() else None
        return None if failure is None else f"{type(failure).__name__}: {failure}"

    def start(self, directory: str) -> None:
        if not self.running(directory):
            self.progress[directory] = (0, 0, "starting")
            self.jobs[directory] = self.pool.submit(self._run, directory)

    def _run(self, directory: str) -> None:
        def progress(done: int, total: int, message: str) -> None:
            self.progress[directory] = (done, total, message)

        with Collection.open(directory) as coll:
            self.keep(directory, audit.version(coll), audit.audit(coll, progress))

    def keep(self, directory: str, version: str, found: AuditReport) -> None:
        self.results[directory] = (version, found)


@st.cache_resource(show_spinner=False)
def checks() -> Checks:
    return Checks()


def report(info: CollectionInfo) -> AuditReport | None:
    """The audit to show: current, or (large collections) the last one kept; None after drawing what to do instead
    (a start button, the running audit's progress)."""
    coll = state.collection(info)
    directory, version, held = str(coll.directory), audit.version(coll), checks()
    kept = held.results.get(directory)
    if kept is not None and kept[0] == version:
        return kept[1]
    if info.counts.get("indexed", 0) <= ON_DEMAND_ABOVE:
        progress, clear = widgets.steps("Checking the dataset")
        found = audit.audit(coll, progress)
        clear()
        held.keep(directory, audit.version(coll), found)
        return found
    if held.running(directory):
        _follow(directory)
        return None
    if (failure := held.error(directory)) is not None:
        st.error(f"Checking the dataset failed: {failure}", icon=":material/error:")
    if kept is not None:
        st.info("Labels or images changed since this check; what is shown may be out of date.",
                icon=":material/history:")
    else:
        st.info(f"Checking all {info.counts.get('indexed', 0):,} images takes a minute or more. It runs in the "
                "background (the other pages stay usable).", icon=":material/schedule:")
    if st.button("Check again" if kept else "Check the dataset", type="primary", icon=":material/fact_check:",
                 key="check_start"):
        held.start(directory)
        st.rerun()
    return kept[1] if kept is not None else None


@st.fragment(run_every=2.0)
def _follow(directory: str) -> None:
    held = checks()
    if not held.running(directory):
        st.rerun()  # done: the whole page shows the result (or the error)
    done, total, message = held.progress.get(directory, (0, 0, ""))
    st.progress(min(1.0, done / total) if total else 0.0, text=f"Checking in the background… {message}")


def overlap(info: CollectionInfo, target: str, other_slug: str | None) -> list[Overlap]:
    """Outside images that copy images of this collection: another collection's (by slug), or a folder's on this
    machine (within the allowed folders; embedded with the collection's model, with a progress bar)."""
    progress, clear = widgets.steps("Comparing")
    try:
        return guarded.overlap(access.actor(), state.workspace(), state.collection(info), other_slug, target,
                               lambda: state.embedder(info.model), progress)
    finally:
        clear()
