"""Scheduler: leases only what it can run, honours per-key limits, keeps leases alive, retries
failures with backoff, and stops without abandoning running jobs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.processes import wait_until
from work_helpers import rows

from eventsync.errors import StorageError
from eventsync.work import Job, RunSummary, Scheduler, SchedulerConfig, WorkQueue

FAST = {"lease_ttl_seconds": 60, "heartbeat_seconds": 10}


class Background:
    """`scheduler.run_until_idle()` on a thread, so the test can watch it work."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.summary: RunSummary | None = None
        self.thread = threading.Thread(target=self._run, args=(scheduler,))
        self.thread.start()

    def _run(self, scheduler: Scheduler) -> None:
        self.summary = scheduler.run_until_idle(timeout=60)

    def join(self) -> RunSummary:
        self.thread.join(30)
        assert not self.thread.is_alive(), "run_until_idle did not return"
        assert self.summary is not None
        return self.summary


def test_config_defaults_are_valid() -> None:
    config = SchedulerConfig()
    assert (config.max_workers, config.max_per_key, config.lease_ttl_seconds,
            config.heartbeat_seconds, config.max_job_attempts, config.retry_backoff_seconds,
            config.jitter_seconds, config.batch_size) == (4, 2, 60, 10, 5, 5, 2, 10)
    SchedulerConfig(lease_ttl_seconds=21, heartbeat_seconds=10, jitter_seconds=0)


@pytest.mark.parametrize("bad", [
    {"lease_ttl_seconds": 20, "heartbeat_seconds": 10},
    {"lease_ttl_seconds": 5, "heartbeat_seconds": 10},
    {"max_workers": 0}, {"max_per_key": -1}, {"heartbeat_seconds": 0},
    {"max_job_attempts": 0}, {"retry_backoff_seconds": 0}, {"batch_size": 0},
    {"jitter_seconds": -1},
])
def test_config_refuses_unsafe_settings(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SchedulerConfig(**bad)


def test_leases_no_more_jobs_than_free_workers(wq: WorkQueue, other: WorkQueue) -> None:
    for n in range(20):
        wq.enqueue(f"job-{n}", {})
    gate = threading.Event()
    running, peak, lock = [0], [0], threading.Lock()

    def handler(job: Job) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(30)
        with lock:
            running[0] -= 1

    config = SchedulerConfig(max_workers=3, max_per_key=3, batch_size=10, **FAST)
    background = Background(Scheduler(wq, handler, config, poll_seconds=0.01))
    wait_until(lambda: running[0] == 3)
    for _ in range(20):
        assert other.stats()["in_progress"] == 3
        time.sleep(0.01)
    gate.set()
    summary = background.join()
    assert (summary.done, summary.failed, peak[0]) == (20, 0, 3)
    assert other.stats()["done"] == 20


def test_per_key_limit_is_honoured(wq: WorkQueue) -> None:
    for n in range(12):
        wq.enqueue(f"job-{n}", {"host": "ab"[n % 2]})
    active: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(job: Job) -> None:
        host = job.payload["host"]
        with lock:
            active[host] += 1
            peak[host] = max(peak[host], active[host])
        time.sleep(0.05)
        with lock:
            active[host] -= 1

    config = SchedulerConfig(max_workers=6, max_per_key=2, **FAST)
    scheduler = Scheduler(wq, handler, config, key_fn=lambda job: job.payload["host"],
                          poll_seconds=0.01)
    summary = scheduler.run_until_idle(timeout=60)
    assert summary.done == 12
    assert peak == {"a": 2, "b": 2}


def test_heartbeat_keeps_a_long_job_leased(wq: WorkQueue, other: WorkQueue) -> None:
    wq.enqueue("long", {})
    started = threading.Event()

    def handler(job: Job) -> None:
        started.set()
        time.sleep(1.5)

    config = SchedulerConfig(max_workers=1, lease_ttl_seconds=0.6, heartbeat_seconds=0.2)
    background = Background(Scheduler(wq, handler, config, poll_seconds=0.01))
    assert started.wait(10)
    stolen = []
    while background.thread.is_alive():
        stolen += other.lease("thief", 5, 60)
        time.sleep(0.05)
    assert stolen == []
    summary = background.join()
    assert (summary.done, summary.failed) == (1, 0)
    [(state, attempts)] = rows(other.store.path, "SELECT state, attempts FROM jobs")
    assert (state, attempts) == ("done", 1)


def test_handler_failure_is_retried_with_backoff_and_run_until_idle_returns(
        wq: WorkQueue, db: Path) -> None:
    crashed = []
    for key, earlier_attempts in (("last-try", 3), ("second-try", 2)):
        wq.enqueue(key, {})
        for _ in range(earlier_attempts):
            [job] = wq.lease("crashed", 1, 0)
            assert job.key == key
        wq.heartbeat([job], 3600)
        crashed.append(job)
    wq.heartbeat(crashed, 0)
    wq.enqueue("fresh", {})
    calls: Counter[str] = Counter()

    def handler(job: Job) -> None:
        calls[job.key] += 1
        raise RuntimeError(f"receiver exploded on {job.key}")

    config = SchedulerConfig(max_job_attempts=4, retry_backoff_seconds=3600, jitter_seconds=0,
                             **FAST)
    summary = Background(Scheduler(wq, handler, config, poll_seconds=0.01)).join()
    assert calls == {"fresh": 1, "second-try": 1, "last-try": 1}
    assert summary.failed == 3
    assert any("RuntimeError: receiver exploded on fresh" in e for e in summary.errors)
    found = {key: rest for key, *rest in rows(
        db, "SELECT key, state, attempts, available_at - updated_at, last_error FROM jobs")}
    state, attempts, backoff_ms, error = found["fresh"]
    assert (state, attempts, error) == ("queued", 1, "RuntimeError: receiver exploded on fresh")
    assert 3_599_000 <= backoff_ms <= 3_600_000
    state, attempts, backoff_ms, _ = found["second-try"]
    assert (state, attempts) == ("queued", 3)
    assert 4 * 3_599_000 <= backoff_ms <= 4 * 3_600_000
    assert found["last-try"][:2] == ["error", 4]
    stats = wq.stats()
    assert (stats["delayed"], stats["error"], stats["in_progress"]) == (2, 1, 0)


def test_stop_lets_running_jobs_finish_with_their_leases_kept(wq: WorkQueue,
                                                              other: WorkQueue) -> None:
    wq.enqueue("running", {})
    wq.enqueue("waiting", {})
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def handler(job: Job) -> None:
        started.set()
        release.wait(30)
        finished.append(job.key)

    config = SchedulerConfig(max_workers=1, lease_ttl_seconds=0.6, heartbeat_seconds=0.2)
    scheduler = Scheduler(wq, handler, config, poll_seconds=0.01)
    scheduler.start()
    assert started.wait(10)
    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    stolen = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert stopper.is_alive(), "stop() returned while a job was still running"
        stolen += [job.key for job in other.lease("thief", 1, 60)]
        time.sleep(0.05)
    assert stolen == ["waiting"], "only the job the scheduler had no worker for is free"
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert finished == ["running"]
    assert scheduler.summary.done == 1
    states = dict(rows(other.store.path, "SELECT key, state FROM jobs"))
    assert states["running"] == "done"


class FlakyQueue(WorkQueue):
    """A queue whose first few leases and heartbeats fail as a database busy for too long."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.lease_failures = self.beat_failures = failures

    def lease(self, worker_id: str, limit: int, lease_ttl_sec: float) -> list[Job]:
        if self.lease_failures:
            self.lease_failures -= 1
            raise StorageError(f"database {self.store.path} is busy; retry")
        return super().lease(worker_id, limit, lease_ttl_sec)

    def heartbeat(self, jobs: Any, lease_ttl_sec: float) -> int:
        if self.beat_failures:
            self.beat_failures -= 1
            raise StorageError(f"database {self.store.path} is busy; retry")
        return super().heartbeat(jobs, lease_ttl_sec)


def test_a_busy_database_does_not_kill_leasing_or_heartbeats(db: Path, other: WorkQueue) -> None:
    queue = FlakyQueue(db, failures=2)
    queue.enqueue("long", {})
    started = threading.Event()

    def handler(job: Job) -> None:
        started.set()
        time.sleep(1.5)

    config = SchedulerConfig(max_workers=1, lease_ttl_seconds=1.2, heartbeat_seconds=0.2)
    try:
        background = Background(Scheduler(queue, handler, config, poll_seconds=0.01))
        assert started.wait(10)
        stolen = []
        while background.thread.is_alive():
            stolen += other.lease("thief", 5, 60)
            time.sleep(0.05)
        summary = background.join()
    finally:
        queue.close()
    assert stolen == []
    assert (summary.done, summary.failed) == (1, 0)
    assert sum("busy" in error for error in summary.errors) == 4
