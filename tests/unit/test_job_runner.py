"""The job runner (revsearch/jobs/runner.py): jobs run in the background, one per kind and collection, report
progress, keep a record on disk, and a runner that starts later lists what a restart interrupted, to resume.

The kinds here are small functions given to the runner (what a kind does is tested with the engine in
tests/integration/test_jobs.py); the runner itself is what is tested."""

from __future__ import annotations

import json
import os
import threading

import pytest

from revsearch.errors import RevsearchError
from revsearch.jobs import DONE, FAILED, INTERRUPTED, RUNNING, JobContext, JobRunner
from revsearch.jobs import records


class Gate:
    """Work that reports progress, then waits until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.started = threading.Event()
        self.calls: list[dict] = []

    def __call__(self, ctx: JobContext) -> dict:
        self.calls.append(dict(ctx.params))
        progress = ctx.phase("step")
        progress(3, 10, "three")
        self.started.set()
        assert self.open.wait(10)
        return {"n": ctx.params.get("n", 0)}


def broken(ctx: JobContext) -> None:
    raise RevsearchError("the folder went away")


def crashing(ctx: JobContext) -> None:
    raise ValueError("a bug")


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def runner(gate: Gate) -> JobRunner:
    return JobRunner({"slow": gate, "broken": broken, "crashing": crashing})


def test_a_job_runs_in_the_background_reports_progress_and_keeps_a_record(runner, gate, tmp_path):
    job = runner.submit(tmp_path, "slow", {"n": 7})
    assert gate.started.wait(10)
    assert job.running and (job.phase, job.done, job.total, job.message) == ("step", 3, 10, "three")
    assert runner.running(tmp_path) == [job] and runner.running(tmp_path, "other") == []
    on_disk = records.load(tmp_path)
    assert [(r["id"], r["kind"], r["state"], r["params"]) for r in on_disk] == [(job.id, "slow", RUNNING, {"n": 7})]
    gate.open.set()
    assert runner.wait(tmp_path, timeout=10)
    assert job.state == DONE and job.result == {"n": 7} and job.ended_at >= job.started_at
    assert records.load(tmp_path)[0]["state"] == DONE and records.load(tmp_path)[0]["result"] == {"n": 7}
    assert runner.latest(tmp_path, "slow") is job


def test_one_job_of_a_kind_per_collection_and_again_queues_one_more_run(runner, gate, tmp_path):
    first = runner.submit(tmp_path, "slow", {"n": 1})
    assert gate.started.wait(10)
    assert runner.submit(tmp_path, "slow", {"n": 2}) is first  # already running: that one
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = runner.submit(other, "slow", {"n": 3})  # another collection: its own job
    assert elsewhere is not first
    runner.submit(tmp_path, "slow", {"n": 4}, again=True)
    runner.submit(tmp_path, "slow", {"n": 5}, again=True)  # the newest wins: one more run, not two
    gate.open.set()
    assert runner.wait(timeout=10)
    done = [j.params["n"] for j in reversed(runner.all(tmp_path))]
    assert done == [1, 5] and all(j.state == DONE for j in runner.all(tmp_path))


def test_failures_are_kept_as_messages(runner, tmp_path):
    clean = runner.submit(tmp_path, "broken")
    bug = runner.submit(tmp_path, "crashing")
    runner.wait(tmp_path, timeout=10)
    assert (clean.state, clean.error) == (FAILED, "the folder went away")
    assert (bug.state, bug.error) == (FAILED, "ValueError: a bug")
    with pytest.raises(RevsearchError, match="unknown kind"):
        runner.submit(tmp_path, "nope")


def test_a_restart_finds_the_interrupted_job_with_its_progress_and_resumes_it(gate, tmp_path):
    before = JobRunner({"slow": gate})
    job = before.submit(tmp_path, "slow", {"n": 9})
    assert gate.started.wait(10)
    before.save(str(tmp_path))  # what the runner writes every few seconds while a job runs
    # the server stops here: its thread never finishes the record (a new runner is a new server process)
    after = JobRunner({"slow": gate})
    stopped = after.interrupted(tmp_path)
    assert [(j.id, j.state, j.done, j.total) for j in stopped] == [(job.id, INTERRUPTED, 3, 10)]
    assert json.loads((tmp_path / records.FILE).read_text())["jobs"][0]["state"] == INTERRUPTED
    gate.open.set()
    before.wait(timeout=10)
    resumed = after.resume(job.id)
    after.wait(timeout=10)
    assert resumed.state == DONE and gate.calls[-1] == {"n": 9}
    assert after.interrupted(tmp_path) == []  # the resumed run took its place
    assert [r["id"] for r in records.load(tmp_path)] == [resumed.id]


def test_a_dead_process_record_is_interrupted_and_can_be_dismissed(runner, tmp_path):
    dead = {"id": "abc", "kind": "slow", "params": {}, "state": RUNNING, "started_at": 1.0, "pid": 2 ** 22 + 11,
            "token": "another server"}
    records.save(tmp_path, [dead])
    assert [j.state for j in runner.all(tmp_path)] == [INTERRUPTED]
    runner.dismiss("abc")
    assert runner.all(tmp_path) == [] and records.load(tmp_path) == []


def test_damaged_records_are_no_records(tmp_path):
    (tmp_path / records.FILE).write_text("{not json")
    assert records.load(tmp_path) == []
    (tmp_path / records.FILE).write_text(json.dumps({"version": 99, "jobs": [{"id": "x"}]}))
    assert records.load(tmp_path) == []
    records.save(tmp_path / "gone", [{"id": "x"}])  # a collection deleted meanwhile: nothing written, no error
    assert not (tmp_path / "gone").exists()


def test_wait_can_give_up(runner, gate, tmp_path):
    runner.submit(tmp_path, "slow")
    assert gate.started.wait(10)
    assert runner.wait(tmp_path, timeout=0.05) is False
    gate.open.set()
    assert runner.wait(tmp_path, timeout=10) is True


def test_job_threads_yield_to_the_pages(runner, tmp_path):
    seen = {}

    def nice(ctx: JobContext) -> None:
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    runner.work["nice"] = nice
    runner.submit(tmp_path, "nice")
    runner.wait(timeout=10)
    assert seen["nice"] > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_delayed_job_takes_the_newest_parameters_before_it_starts(runner, gate, tmp_path):
    job = runner.submit(tmp_path, "slow", {"n": 1}, delay=0.5)
    assert runner.submit(tmp_path, "slow", {"n": 2}, again=True) is job  # not working yet: no second run
    gate.open.set()
    runner.wait(timeout=10)
    assert job.result == {"n": 2} and len(runner.all(tmp_path)) == 1


def test_jobs_hold_back_while_a_page_runs(runner, gate, tmp_path):
    with runner.page_running():  # a click is being answered
        job = runner.submit(tmp_path, "slow")
        assert not gate.started.wait(0.6) and not job.working  # the job waits for the page
    assert gate.started.wait(10)  # and starts once the page is done
    gate.open.set()
    assert runner.wait(timeout=10)
