"""Background jobs of a collection: the runner (runner.py), what each kind does (work.py), their records on disk
(records.py) and the clock that gives a run its ETA (clock.py). No Streamlit here; ui/jobs.py draws them."""

from revsearch.jobs.clock import MODEL, RunClock
from revsearch.jobs.runner import DONE, FAILED, INTERRUPTED, RUNNING, Job, JobContext, JobRunner

__all__ = ["DONE", "FAILED", "INTERRUPTED", "MODEL", "RUNNING", "Job", "JobContext", "JobRunner", "RunClock"]
