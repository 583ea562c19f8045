"""The app's side of the job runner (revsearch.jobs): one runner per server, the sidebar that shows the running jobs
live on every page, in-page progress, and resuming what a server restart interrupted.

The sidebar is a fragment that re-runs every POLL seconds: it draws each running job's progress, and when a job it saw
running has ended it says so (a toast) and re-runs the whole page, so the page shows the job's outcome without a
reload. Another tab's jobs show the same way: the runner is the server's, not the session's.
"""

from __future__ import annotations

import streamlit as st

from revsearch.auth import guarded
from revsearch.jobs import DONE, FAILED, Job, JobRunner
from revsearch.jobs.work import WORK
from revsearch.workspace import CollectionInfo
from ui import access, state
from ui.progress_text import job_outcome, job_progress, job_title

POLL = 1.5  # seconds between two looks of the sidebar (and in-page bars) at the running jobs
IDLE_POLL = 5.0  # seconds between two looks when nothing runs (a job started in another tab shows within this)
SEEN = "_jobs_seen"  # session_state: ids of the jobs this session last saw running


@st.cache_resource(show_spinner=False)
def runner() -> JobRunner:
    """The server's one runner; jobs load the model through the app's shared copy and work on the app's shared
    collection handles (what a job derives, e.g. the suggestions after a retrain, is then the pages')."""
    return JobRunner(WORK, embedder=state.loaded_embedder, collections=state.collection_at)


def start(info: CollectionInfo, kind: str, params: dict | None = None, again: bool = False,
          delay: float = 0.0) -> Job:
    """Start `kind` on the collection as the person using this tab (their role checked by revsearch.auth.guarded)."""
    return guarded.start_job(access.actor(), runner(), info.directory, kind, params, again=again, delay=delay)


def running(info: CollectionInfo, kind: str | None = None) -> Job | None:
    """The collection's running job (of `kind`), if any."""
    found = runner().running(info.directory, kind)
    return found[0] if found else None


def latest(info: CollectionInfo, kind: str) -> Job | None:
    return runner().latest(info.directory, kind)


def note_running() -> None:
    """Remember what runs now (on every full run of a page), so the sidebar re-runs the page only for jobs that end
    after it."""
    st.session_state[SEEN] = {j.id for j in runner().running()}


def sidebar(info: CollectionInfo | None, names: dict[str, str], extra=None) -> None:
    """Every running job (this collection's first, others with their collection's name), jobs a restart
    interrupted (Resume / Dismiss), then `extra(info)` (the learning status line), kept live: every POLL seconds
    while jobs run, every IDLE_POLL seconds otherwise (to notice jobs started in another tab). When a job this
    session saw running has ended, the whole page runs again (and says how it went)."""
    (_live_sidebar if runner().running() else _idle_sidebar)(info, names, extra)


@st.fragment(run_every=POLL)
def _live_sidebar(info: CollectionInfo | None, names: dict[str, str], extra=None) -> None:
    _draw_sidebar(info, names, extra)


@st.fragment(run_every=IDLE_POLL)
def _idle_sidebar(info: CollectionInfo | None, names: dict[str, str], extra=None) -> None:
    if runner().running():
        st.rerun(scope="app")  # a job started elsewhere: the page follows it closely from now on
    _draw_sidebar(info, names, extra)


def _draw_sidebar(info: CollectionInfo | None, names: dict[str, str], extra) -> None:
    with state.guard("Showing the background jobs"):
        jobs = runner()
        live = jobs.running()
        ended = [jobs.jobs.get(i) for i in st.session_state.get(SEEN, set()) - {j.id for j in live}]
        st.session_state[SEEN] = {j.id for j in live}
        if ended:
            for job in ended:
                if job is not None and job.kind in ANNOUNCED and job.state in (DONE, FAILED):
                    state.flash(job_outcome(job))
            st.rerun(scope="app")  # the page shows what the job changed
        current = str(info.directory) if info is not None else None
        for job in sorted(live, key=lambda j: j.directory != current):
            fraction, text = job_progress(job)
            where = "" if job.directory == current else f" ({names.get(job.directory, 'another collection')})"
            st.progress(fraction, text=text + where)
        if info is not None:
            for job in jobs.interrupted(info.directory):
                if job.kind in OFFER_RESUME:
                    interrupted(job)
                else:  # the app starts these again by itself when they are needed (a retrain, the map)
                    jobs.dismiss(job.id)
            if extra is not None:
                extra(info)


ANNOUNCED = {"index", "recluster", "duplicates"}  # kinds whose end is said in a toast (the others show in place)
OFFER_RESUME = {"index", "recluster", "duplicates", "suggest_k"}  # started by a person: a restart asks about them


def interrupted(job: Job) -> None:
    """A job a server restart cut short: say so and offer to run it again (indexing resumes where it stopped)."""
    with st.container(border=True, key=f"interrupted_{job.id}"):
        st.caption(f":material/warning: {job_outcome(job)}.")
        left, right = st.columns(2)
        if left.button("Resume", key=f"resume_{job.id}", icon=":material/play_arrow:", width="stretch",
                       help="runs it again; indexing picks up after the last images it saved"):
            with state.guard("Resuming the job"):
                guarded.resume_job(access.actor(), runner(), job.id)
                st.rerun(scope="fragment")
        if right.button("Dismiss", key=f"dismiss_{job.id}", width="stretch"):
            with state.guard("Dismissing the job"):
                guarded.dismiss_job(access.actor(), runner(), job.id)
                st.rerun(scope="fragment")


@st.fragment(run_every=POLL)
def progress(info: CollectionInfo, kind: str) -> None:
    """In a page: the progress of the collection's running job of `kind` (nothing when none runs)."""
    job = running(info, kind)
    if job is not None:
        fraction, text = job_progress(job)
        st.progress(fraction, text=text)


def failed(job: Job | None) -> bool:
    """Show a failed job's error (in place of any older status); True when there was one."""
    if job is None or job.state != FAILED:
        return False
    st.error(f"**{job_title(job)} did not work.** {job.error}", icon=":material/error:")
    return True
