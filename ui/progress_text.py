"""Progress and summary wording for people: job titles, ETAs, step names, the numbers an indexing run shows.

No Streamlit here, so the wording is unit-tested without a page; `ui/widgets.py` and `ui/jobs.py` draw it. The
backend reports kinds, phase names and numbers only (see `revsearch.jobs`, `revsearch.indexing.adding`); what they are
called on screen is decided here.
"""

from __future__ import annotations

import os
from pathlib import Path

from revsearch.indexing.adding import CLUSTERS, EMBEDDING, MAP, THUMBNAILS
from revsearch.jobs import DONE, FAILED, INTERRUPTED, MODEL, Job, RunClock

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


def run_text(clock: RunClock, label: str, done: int, total: int, message: str) -> tuple[float, str]:
    """(fraction of the whole run, "Indexing — Embedding: 34 / 80 images · 12.0 /s · about 40 s left in all")."""
    phase = clock.phase or ""
    title = PHASE_LABELS.get(phase, phase)
    if phase == MODEL:
        return clock.fraction(None), f"{label} — {title}…"
    rate = clock.rate()
    if phase == EMBEDDING and total > 0:
        detail = f"{done} / {total} images" + (f" · {rate:.1f} /s" if rate else "")
    else:
        detail = step_text(title, message)[len(title):].lstrip(": ") if message else ""
        if total:
            detail = (detail + " " if detail else "") + f"({min(1.0, done / total):.0%})"
    left = clock.remaining()
    when = f"about {format_duration(left)} left in all" if left is not None else "estimating the time left…"
    text = f"{label} — {title}" + (f": {detail}" if detail else "") + f" · {when}"
    return clock.fraction(left), text


# ---------------------------------------------------------------------------------------------- jobs

JOB_TITLES = {
    "learn": "Learning from your labels",
    "duplicates": "Finding duplicates",
    "suggest_k": "Scoring numbers of clusters",
    "map": "Laying out the map",
}


def job_title(job: Job) -> str:
    """What a job does, in a few words: "Indexing Pictures", "Adding 12 files", "Re-clustering into 8 groups"."""
    if job.kind == "index":
        folder = job.params.get("folder")
        if folder:
            return f"Indexing {Path(folder).name or folder}"
        n = len(job.params.get("files", []))
        return f"Adding {n} file{'s' if n != 1 else ''}"
    if job.kind == "recluster":
        return f"Re-clustering into {job.params.get('k')} groups"
    return JOB_TITLES.get(job.kind, job.kind)


def job_progress(job: Job) -> tuple[float, str]:
    """(fraction, one line) of a running job: "Indexing Pictures — Embedding: 356 / 700 images · 12.0 /s · about
    1 min 05 s left in all"; a job without counts says its step."""
    if job.kind == "index":
        return run_text(job.clock, job_title(job), job.done, job.total, job.message)
    fraction = min(1.0, job.done / job.total) if job.total else 0.0
    left = job.remaining() if job.total else None
    step = step_text(job_title(job), job.message if job.message != "done" else "")
    return fraction, step + (f" ({fraction:.0%})" if job.total else "…") + (
        f" · about {format_duration(left)} left" if left is not None else "")


def job_outcome(job: Job) -> str:
    """A finished, failed or interrupted job in one line."""
    title = job_title(job)
    if job.state == FAILED:
        return f"{title} did not work: {job.error}"
    if job.state == INTERRUPTED:
        where = f" at {job.done:,} of {job.total:,}" if job.total else ""
        return f"{title} was interrupted{where} when the server stopped"
    if job.state == DONE and job.kind == "index" and job.result:
        summary = index_summary(job.result)
        if not summary["found"]:
            return f"{title}: no image found"
        return f"{title}: done, {summary['indexed']:,} new image{'s' if summary['indexed'] != 1 else ''} indexed"
    return f"{title}: done"


def step_text(label: str, message: str) -> str:
    """A sub-step's message prefixed with what the step is ("Laying out the map: UMAP layout: epoch 40/200").

    A message that already says the step ("making thumbnails" under "Making thumbnails") is not said twice.
    """
    if not message or message.lower().startswith(label.lower()):
        return label
    return f"{label}: {message}"


def index_summary(result: dict) -> dict:
    """The numbers the app shows for a finished indexing job (its result, see revsearch.jobs.work.index).

    "skipped" are the files the collection keeps as skipped (unreadable, not images): the sidebar's count of the
    same; "refused" are uploads that were never added (not images, unusable names)."""
    report = result["report"]
    phases = result.get("phases", {})
    return {
        "indexed": report["indexed"] + report["updated"],
        "unchanged": report["unchanged"],
        "removed": report.get("removed", 0),
        "skipped": [(_name(s["path"]), s["reason"]) for s in report["skipped"]],
        "refused": [(name, reason) for name, reason in result.get("rejected", [])],
        "duplicates": [(Path(d["path"]).name, Path(d["duplicate_of"]).name) for d in report["duplicates"]],
        "seconds": result.get("seconds", report["seconds"]),
        "breakdown": breakdown(phases),
        "missing": report.get("missing", 0),
        "moved": report.get("moved", 0),
        "warnings": list(report.get("warnings", [])),
        "found": result.get("found", 1),
    }


def breakdown(phases: dict[str, float]) -> str:
    """'model 18 s · embedding 24 s · preparing the pages 19 s' — where the time of a finished run went."""
    parts = []
    if phases.get(MODEL, 0) >= 0.5:
        parts.append(f"model {format_duration(phases[MODEL])}")
    if EMBEDDING in phases:
        parts.append(f"embedding {format_duration(phases[EMBEDDING])}")
    if phases.get("preparing", 0) >= 0.5:
        parts.append(f"preparing the pages {format_duration(phases['preparing'])}")
    return " · ".join(parts)


def _name(path: str) -> str:
    return Path(path).name if os.sep in path else path
