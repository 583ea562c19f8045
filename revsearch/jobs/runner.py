"""The job runner: the long work of a collection (indexing, learning from labels, the duplicate comparison,
re-clustering, the map layout) runs here, in background threads of the server process, not in a page.

One runner per process holds every job, keyed by collection directory, so a job outlives the page (and the browser
session) that started it and every tab sees it. Per collection at most one job of a kind runs at a time: submitting
the same kind again returns the running job (`again=True` queues one more run after it, on the newest state: labels
that changed during a retrain). A job reports its phase and progress (done, total, message) and keeps a RunClock for
its ETA. Its record (revsearch.jobs.records) is written when it starts, every few seconds while it runs and when it
ends, so a server that starts again finds the jobs a restart cut short and lists them as interrupted, with their
last progress, to be resumed (the work itself is resumable: indexing picks up after its last committed batch).

What each kind does is a function of a JobContext (revsearch.jobs.work); the wording is the app's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

from revsearch.collection import Collection
from revsearch.embed.embedder import Embedder
from revsearch.errors import RevsearchError
from revsearch.jobs import records
from revsearch.jobs.clock import RunClock
from revsearch.progress import Progress

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED, INTERRUPTED = "running", "done", "failed", "interrupted"
SAVE_EVERY = 2.0  # seconds between two writes of a running job's record
NICE = 5  # job threads run at this niceness (Linux): the pages' own work comes first on a busy machine
QUIET = 0.3  # seconds without a page run before a job starts its work (or goes on after a progress report)
YIELD_AT_MOST = 2.0  # seconds a job waits for the pages at one progress report (busy pages never starve it)
FIELDS = ("id", "kind", "params", "state", "started_at", "ended_at", "phase", "done", "total", "message", "error",
          "result", "pid", "token")


@dataclass
class Job:
    """One run of a kind of work on a collection, as the pages see it."""

    id: str
    directory: str
    kind: str
    params: dict
    state: str = RUNNING
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    phase: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    error: str | None = None
    result: dict | None = None
    pid: int = field(default_factory=os.getpid)
    token: str = ""
    clock: RunClock = field(default_factory=RunClock, repr=False, compare=False)
    thread: threading.Thread | None = field(default=None, repr=False, compare=False)
    saved_at: float = field(default=0.0, repr=False, compare=False)
    working: bool = field(default=False, repr=False, compare=False)  # past its delay: doing the work

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def remaining(self) -> float | None:
        """Seconds left, when this run has measured enough to say."""
        return self.clock.remaining() if self.running else None

    def record(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_record(cls, directory: str, data: dict) -> "Job":
        known = {name: data[name] for name in FIELDS if name in data}
        known["params"] = dict(known.get("params") or {})
        return cls(directory=directory, **known)


Work = Callable[["JobContext"], "dict | None"]


@dataclass
class JobContext:
    """What a job's work gets: its parameters, progress reporting, the model, and follow-up jobs."""

    job: Job
    runner: "JobRunner"

    @property
    def directory(self) -> str:
        return self.job.directory

    @property
    def params(self) -> dict:
        return self.job.params

    def phase(self, name: str) -> Progress:
        """Start a phase of the job (its clock, its label); returns the phase's progress callback. Fits
        `revsearch.indexing.adding`'s `phases` argument."""
        self.job.clock.start(name)
        self.job.phase, self.job.done, self.job.total, self.job.message = name, 0, 0, ""
        return self.progress

    def progress(self, done: int, total: int, message: str = "") -> None:
        job = self.job
        job.clock.observe(done, total)
        job.done, job.total, job.message = done, total, message
        if time.time() - job.saved_at >= SAVE_EVERY:
            self.runner.save(job.directory)
        self.runner.wait_for_pages(YIELD_AT_MOST)  # a page that runs now answers a click: it goes first

    def embedder(self, model: str) -> Embedder:
        return self.runner.embedder(model)

    @contextmanager
    def collection(self) -> Iterator[Collection]:
        """The job's collection: the handle the runner was given a provider for (the app's shared one, so what the
        job derives is what the pages read), else one of its own, closed afterwards."""
        if self.runner.collections is not None:
            yield self.runner.collections(self.directory)
            return
        with Collection.open(self.directory) as coll:
            yield coll

    def follow(self, kind: str, params: dict | None = None) -> Job:
        """Start another job on the same collection when this one is done with its part (e.g. the map's layout
        after a retrain moved the space)."""
        return self.runner.submit(self.directory, kind, params, again=True)


class JobRunner:
    """Every job of this process; see the module docstring."""

    def __init__(self, work: Mapping[str, Work], embedder: Callable[[str], Embedder] | None = None,
                 collections: Callable[[str], Collection] | None = None) -> None:
        """`work`: kind -> what it does (the app's kinds: revsearch.jobs.work.WORK); `embedder`: the model provider
        (default: one loaded model per name, kept by this runner); `collections`: directory -> an open handle that
        jobs share with their caller and do not close (default: each job opens its own)."""
        self.work = dict(work)
        self.collections = collections
        self.token = uuid.uuid4().hex  # this process's runner: a record from another one was cut short
        self.guard = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.pending: dict[tuple[str, str], dict] = {}
        self.loaded: set[str] = set()
        self._embed = embedder
        self._embedders: dict[str, Embedder] = {}
        self._save_locks: dict[str, threading.Lock] = {}
        self._pages = 0  # page runs in progress (see `page_running`)
        self._quiet = threading.Condition(self.guard)
        self._idle_since = time.monotonic()

    # ------------------------------------------------------------------ the pages come first

    @contextmanager
    def page_running(self) -> Iterator[None]:
        """Around a run of a page: jobs hold back meanwhile (at their start and at each progress report), so the
        page answers its click as fast as when nothing runs in the background (threads share one interpreter)."""
        with self.guard:
            self._pages += 1
        try:
            yield
        finally:
            with self.guard:
                self._pages -= 1
                self._idle_since = time.monotonic()
                self._quiet.notify_all()

    def wait_for_pages(self, longest: float) -> None:
        """Wait until no page has run for QUIET seconds, `longest` seconds at most."""
        deadline = time.monotonic() + longest
        with self.guard:
            while True:
                now = time.monotonic()
                calm = self._pages == 0 and now - self._idle_since >= QUIET
                if calm or now >= deadline:
                    return
                self._quiet.wait(min(deadline - now, QUIET if self._pages == 0 else deadline - now))

    # ------------------------------------------------------------------ starting

    def submit(self, directory: Path | str, kind: str, params: dict | None = None, again: bool = False,
               delay: float = 0.0) -> Job:
        """Start `kind` on the collection in `directory` unless one runs already (then that one is returned, and
        with `again` one more run, with these params, is queued after it). An interrupted job of the same kind and
        params is superseded: this run does its work. `delay` seconds pass before the work starts (the job counts
        as running meanwhile): the page that asked for it answers first, and clicks in a row share one run."""
        if kind not in self.work:
            raise RevsearchError(f"unknown kind of job {kind!r}")
        directory, params = str(directory), dict(params or {})
        with self.guard:
            self._load(directory)
            live = self.running(directory, kind)
            if live:
                if again and live[0].working:
                    self.pending[(directory, kind)] = params
                elif again:  # still waiting out its delay: it will see the newest state anyway
                    live[0].params = params
                return live[0]
            for old in self.interrupted(directory):
                if old.kind == kind and old.params == params:
                    del self.jobs[old.id]
            job = Job(uuid.uuid4().hex[:12], directory, kind, params, token=self.token)
            job.thread = threading.Thread(target=self._run, args=(job, delay), name=f"job {kind} {directory}",
                                          daemon=True)
            self.jobs[job.id] = job
        self.save(directory)
        job.thread.start()
        return job

    def resume(self, job_id: str, params_for: Callable[[str, dict], dict] | None = None) -> Job:
        """Run an interrupted job's work again in its place, with its parameters, or with what `params_for(kind,
        params)` makes of them (revsearch.auth.guarded re-checks them as of now)."""
        with self.guard:
            old = self.jobs.get(job_id)
            if old is None or old.state != INTERRUPTED:
                raise RevsearchError("that job is not waiting to be resumed")
        params = dict(old.params) if params_for is None else params_for(old.kind, dict(old.params))
        self.dismiss(job_id)
        return self.submit(old.directory, old.kind, params)

    def dismiss(self, job_id: str) -> None:
        """Forget a finished or interrupted job (it leaves the lists and the records)."""
        with self.guard:
            job = self.jobs.get(job_id)
            if job is None or job.running:
                return
            del self.jobs[job_id]
        self.save(job.directory)

    def _run(self, job: Job, delay: float = 0.0) -> None:
        _lower_priority()
        time.sleep(delay)
        self.wait_for_pages(max(delay, YIELD_AT_MOST))
        job.working = True
        context = JobContext(job, self)
        try:
            job.result = self.work[job.kind](context)
            job.state = DONE
        except RevsearchError as exc:
            job.error, job.state = str(exc), FAILED
        except MemoryError:
            job.error, job.state = "it ran out of memory", FAILED
        except Exception as exc:  # noqa: BLE001 - a job's failure is shown on the pages, never a crash of the server
            log.exception("the %s job on %s failed", job.kind, job.directory)
            job.error, job.state = f"{type(exc).__name__}: {exc}", FAILED
        job.clock.finish()
        job.ended_at = time.time()
        with self.guard:
            again = self.pending.pop((job.directory, job.kind), None)
            if again is not None:
                self.submit(job.directory, job.kind, again, delay=delay)
        self.save(job.directory)

    def embedder(self, model: str) -> Embedder:
        """The model for a job: the provider given to the runner (the app's shared one), else one per model here."""
        if self._embed is not None:
            return self._embed(model)
        with self.guard:
            if model not in self._embedders:
                self._embedders[model] = Embedder(model)
            return self._embedders[model]

    # ------------------------------------------------------------------ reading

    def all(self, directory: Path | str) -> list[Job]:
        """The collection's jobs, newest first: running, finished and interrupted."""
        directory = str(directory)
        with self.guard:
            self._load(directory)
            found = [j for j in self.jobs.values() if j.directory == directory]
        return sorted(found, key=lambda j: j.started_at, reverse=True)

    def running(self, directory: Path | str | None = None, kind: str | None = None) -> list[Job]:
        """Jobs running now (of one collection and kind when given), oldest first."""
        with self.guard:
            found = [j for j in self.jobs.values() if j.running and (directory is None or j.directory == str(directory))
                     and (kind is None or j.kind == kind)]
        return sorted(found, key=lambda j: j.started_at)

    def latest(self, directory: Path | str, kind: str) -> Job | None:
        """The newest job of a kind on the collection, whatever its state."""
        return next((j for j in self.all(directory) if j.kind == kind), None)

    def interrupted(self, directory: Path | str) -> list[Job]:
        return [j for j in self.all(directory) if j.state == INTERRUPTED]

    def wait(self, directory: Path | str | None = None, kind: str | None = None, timeout: float | None = None) -> bool:
        """Block until no matching job runs (queued reruns included); False when `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            live = self.running(directory, kind)
            if not live:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            thread = live[0].thread
            if thread is not None:
                thread.join(left)

    # ------------------------------------------------------------------ records

    def save(self, directory: str) -> None:
        """Write the collection's job records (a running job's progress included)."""
        with self.guard:
            lock = self._save_locks.setdefault(directory, threading.Lock())
            jobs = sorted((j for j in self.jobs.values() if j.directory == directory), key=lambda j: j.started_at)
        now = time.time()
        with lock:
            for job in jobs:
                job.saved_at = now
            records.save(directory, [j.record() for j in jobs])

    def _load(self, directory: str) -> None:
        """Read a collection's records once per process; jobs another process left running and which no live
        process runs any more were interrupted."""
        if directory in self.loaded:
            return
        self.loaded.add(directory)
        changed = False
        for data in records.load(directory):
            job = Job.from_record(directory, data)
            if job.id in self.jobs:
                continue
            if job.running:
                if job.token == self.token or (job.pid != os.getpid() and _alive(job.pid)):
                    continue  # ours, or still running in another live process: not ours to show
                job.state, changed = INTERRUPTED, True
            self.jobs[job.id] = job
        if changed:
            self.save(directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def _lower_priority() -> None:
    """Let this thread yield the CPU to the pages' threads (Linux: a thread's niceness is its own)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass


__all__ = ["DONE", "FAILED", "INTERRUPTED", "Job", "JobContext", "JobRunner", "RUNNING", "Work"]
