"""Scheduler lifecycle: stop releases what it has not started, outcomes become job states,
timeouts return, the heartbeat touches only running jobs, and bad settings are refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.processes import wait_until

from eventsync.errors import StorageError
from eventsync.work import Job, Scheduler, SchedulerConfig, WorkQueue

QUICK = {"lease_ttl_seconds": 0.6, "heartbeat_seconds": 0.2, "jitter_seconds": 0}


@pytest.fixture
def wq(tmp_path: Path) -> Iterator[WorkQueue]:
    with WorkQueue(tmp_path / "jobs.db") as queue:
        yield queue


def test_stop_finishes_the_running_job_and_releases_the_one_waiting_for_its_host(
        wq: WorkQueue) -> None:
    wq.enqueue("first", {})
    wq.enqueue("second", {})
    gate, calls = threading.Event(), []

    def handler(job: Job) -> None:
        calls.append(job.key)
        gate.wait(30)

    config = SchedulerConfig(max_workers=2, max_per_key=1, **QUICK)
    scheduler = Scheduler(wq, handler, config, key_fn=lambda job: "one-host",
                          poll_seconds=0.01)
    scheduler.start()
    wait_until(lambda: calls and wq.stats()["in_progress"] == 2)
    waiting = next(job for job in scheduler.running() if job.key != calls[0])
    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    released = wait_until(lambda: wq.get(waiting.id).state == "queued" and wq.get(waiting.id))
    assert stopper.is_alive(), "stop() must wait for the running handler"
    gate.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert calls == ["first"]
    assert (released.attempts, released.lease_token) == (0, None)
    summary = scheduler.summary
    assert (summary.done, summary.released, summary.failed) == (1, 1, 0)
    assert wq.stats() == {"queued": 1, "in_progress": 0, "done": 1, "skipped": 0, "error": 0,
                          "total": 2, "delayed": 0, "expired_leases": 0}


def test_handler_return_values_become_job_states(wq: WorkQueue) -> None:
    for key in ("none", "done", "skipped", "error", "bogus"):
        wq.enqueue(key, {"reply": None if key == "none" else key})
    config = SchedulerConfig(max_workers=2, retry_backoff_seconds=3600, **QUICK)
    summary = Scheduler(wq, lambda job: job.payload["reply"], config,
                        poll_seconds=0.01).run_until_idle(timeout=30)
    states = {key: wq.live_job(key) for key in ("none", "done", "skipped", "error", "bogus")}
    assert [key for key, job in states.items() if job is not None] == ["bogus"]
    assert (summary.done, summary.skipped, summary.failed) == (2, 1, 2)
    assert any(error.startswith("bogus: ValueError: ack outcome") for error in summary.errors)
    stats = wq.stats()
    assert (stats["done"], stats["skipped"], stats["error"], stats["delayed"]) == (2, 1, 1, 1)


def test_start_twice_is_refused_and_a_scheduler_can_run_again(wq: WorkQueue) -> None:
    scheduler = Scheduler(wq, lambda job: None, SchedulerConfig(**QUICK), poll_seconds=0.01)
    scheduler.stop()
    scheduler.start()
    with pytest.raises(RuntimeError, match="already started"):
        scheduler.start()
    scheduler.stop()
    for round_ in range(2):
        wq.enqueue(f"round-{round_}", {})
        assert scheduler.run_until_idle(timeout=30).done == round_ + 1


def test_run_until_idle_returns_at_its_timeout_with_nothing_left_leased(wq: WorkQueue) -> None:
    wq.enqueue("job-0", {"n": 0})

    def endless(job: Job) -> None:
        n = job.payload["n"] + 1
        wq.enqueue(f"job-{n}", {"n": n})

    summary = Scheduler(wq, endless, SchedulerConfig(max_workers=1, **QUICK),
                        poll_seconds=0.01).run_until_idle(timeout=0.3)
    stats = wq.stats()
    assert summary.done >= 1 and summary.failed == 0
    assert (stats["done"], stats["queued"], stats["in_progress"]) == (summary.done, 1, 0)


def test_heartbeat_extends_running_jobs_and_no_other_lease(wq: WorkQueue,
                                                           tmp_path: Path) -> None:
    with WorkQueue(tmp_path / "jobs.db") as other:
        other.enqueue("foreign", {})
        [foreign] = other.lease("someone-else", 1, 3600)
        wq.enqueue("mine", {})
        seen: list[int] = []

        def handler(job: Job) -> None:
            time.sleep(1.0)
            seen.append(wq.get(job.id).lease_expires_at - job.lease_expires_at)

        config = SchedulerConfig(max_workers=1, **QUICK)
        summary = Scheduler(wq, handler, config, poll_seconds=0.01).run_until_idle(timeout=30)
        assert summary.done == 1 and seen[0] > 0, "the running job's lease was extended"
        assert other.get(foreign.id).lease_expires_at == foreign.lease_expires_at
        assert other.get(foreign.id).lease_token == foreign.lease_token


class UnrecordableFailures(WorkQueue):
    def fail_and_retry(self, job: Job, backoff_sec: float, max_attempts: int,
                       error: str) -> bool:
        raise StorageError(f"database {self.store.path} is busy; retry")


def test_a_failure_that_cannot_be_recorded_is_reported_not_lost(tmp_path: Path) -> None:
    with UnrecordableFailures(tmp_path / "jobs.db") as queue:
        queue.enqueue("k", {})

        def explode(job: Job) -> None:
            raise RuntimeError("receiver down")

        summary = Scheduler(queue, explode, SchedulerConfig(lease_ttl_seconds=60),
                            poll_seconds=0.01).run_until_idle(timeout=30)
        assert summary.failed == 1
        assert any("recording the failure" in error and "busy" in error
                   for error in summary.errors)
        job = queue.live_job("k")
        assert job is not None and job.state == "in_progress", "its lease lapses, then a retry"


@pytest.mark.parametrize("bad", [
    {"max_workers": 2.5}, {"max_workers": True}, {"batch_size": "10"},
    {"lease_ttl_seconds": float("inf")}, {"heartbeat_seconds": float("nan")},
    {"retry_backoff_seconds": "5"}, {"jitter_seconds": float("inf")},
])
def test_config_refuses_wrong_types_and_non_finite_durations(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SchedulerConfig(**bad)


def test_config_accepts_sub_second_durations() -> None:
    config = SchedulerConfig(lease_ttl_seconds=0.5, heartbeat_seconds=0.2,
                             retry_backoff_seconds=0.01, jitter_seconds=0)
    assert (config.lease_ttl_seconds, config.heartbeat_seconds) == (0.5, 0.2)
