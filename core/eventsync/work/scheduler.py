"""Scheduler: one leasing thread, a pool of workers under a KeyedLimiter, one heartbeat thread.

The leasing thread never claims more jobs than it has free workers for (a claimed job that
waits in a local queue would let its lease run out while nobody works on it). The heartbeat
extends only the leases of jobs that are running, by the configured TTL. `stop()` lets running
handlers finish and gives back, uncounted, the jobs still waiting for a per-key slot, so a
shutdown never waits behind a busy host nor burns an attempt.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from eventsync.errors import StorageError
from eventsync.work.limits import KeyedLimiter
from eventsync.work.queue import Job, WorkQueue, worker_identity

Handler = Callable[[Job], "str | None"]

_COUNTS = ("max_workers", "max_per_key", "max_job_attempts", "batch_size")
_JITTER = random.Random()  # not the host program's global `random` state
_DURATIONS = ("lease_ttl_seconds", "heartbeat_seconds", "retry_backoff_seconds")


@dataclass(frozen=True)
class SchedulerConfig:
    """Concurrency, lease and retry settings, validated so a lease cannot outlive its heartbeat.

    Durations are seconds and may be fractions (tests run on sub-second leases). Errors are
    `ValueError`, which the configuration loader turns into a one-line `ConfigError`.
    """

    max_workers: int = 4
    max_per_key: int = 2
    lease_ttl_seconds: float = 60
    heartbeat_seconds: float = 10
    max_job_attempts: int = 5
    retry_backoff_seconds: float = 5
    jitter_seconds: float = 2
    batch_size: int = 10

    def __post_init__(self) -> None:
        for name in _COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SchedulerConfig.{name} must be a positive integer")
        for name in (*_DURATIONS, "jitter_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"SchedulerConfig.{name} must be a number of seconds")
            if not math.isfinite(value) or value < 0 or (value == 0 and name in _DURATIONS):
                raise ValueError(f"SchedulerConfig.{name} must be "
                                 f"{'positive' if name in _DURATIONS else 'zero or more'}")
        if not self.lease_ttl_seconds > 2 * self.heartbeat_seconds:
            raise ValueError("lease_ttl_seconds must be more than twice heartbeat_seconds")


@dataclass
class RunSummary:
    """How many jobs this scheduler finished, and how; `released` went back to the queue."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)


class Scheduler:
    """Runs `handler(job)` for leased jobs.

    The handler's return value is the ack outcome (`None` means `done`); an exception queues
    the job again after `retry_backoff_seconds * 2**(attempts-1)` plus up to `jitter_seconds`,
    or marks it `error` once it has had `max_job_attempts`. `key_fn(job)` names the limiter
    key (a drain uses its target's host), so one host never gets more than `max_per_key`.
    """

    def __init__(self, queue: WorkQueue, handler: Handler, config: SchedulerConfig | None = None,
                 *, limiter: KeyedLimiter | None = None,
                 key_fn: Callable[[Job], str] | None = None, poll_seconds: float = 0.05) -> None:
        self.queue = queue
        self.handler = handler
        self.config = config or SchedulerConfig()
        self.limiter = limiter or KeyedLimiter(self.config.max_per_key)
        self.key_fn = key_fn or (lambda job: job.key)
        self.poll_seconds = poll_seconds
        self.worker_id = worker_identity(uuid.uuid4().hex[:8])
        self.summary = RunSummary()
        self._running: dict[int, Job] = {}
        self._claiming = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start leasing, working and heartbeating in background threads."""
        if self._threads:
            raise RuntimeError("scheduler already started")
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self.config.max_workers, thread_name_prefix="es-worker")
        for target, name in ((self._lease_loop, "es-lease"), (self._heartbeat_loop, "es-beat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop leasing; running handlers finish (each acks itself) and jobs still waiting for
        a per-key slot are released; heartbeats go on until the last handler returns."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            if thread.name == "es-lease":
                thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def run_until_idle(self, timeout: float | None = None) -> RunSummary:
        """Run until nothing is running and nothing can be leased now; delayed retries wait.

        Past `timeout` it stops as `stop()` does: running handlers still finish.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self.start()
        try:
            while deadline is None or time.monotonic() < deadline:
                if self.idle():
                    time.sleep(self.poll_seconds)
                    if self.idle():
                        break
                time.sleep(self.poll_seconds)
        finally:
            self.stop()
        return self.summary

    def idle(self) -> bool:
        """Nothing running, nothing being claimed, nothing leasable now."""
        with self._lock:
            if self._running or self._claiming:
                return False
        return not self.queue.has_ready()

    def running(self) -> list[Job]:
        """The jobs handed to workers and not yet finished (the ones the heartbeat extends)."""
        with self._lock:
            return list(self._running.values())

    def _lease_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                free = self.config.max_workers - len(self._running)
                self._claiming = free > 0
            jobs = self._lease(free) if free > 0 else []
            with self._lock:
                self._running.update((job.id, job) for job in jobs)
                self._claiming = False
            assert self._pool is not None
            for job in jobs:
                self._pool.submit(self._run, job)
            if not jobs:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _lease(self, free: int) -> list[Job]:
        """A busy database is retried on the next poll: were this thread to die, jobs would stay
        ready with nobody leasing them and `run_until_idle` would never return."""
        try:
            return self.queue.lease(self.worker_id, min(self.config.batch_size, free),
                                    self.config.lease_ttl_seconds)
        except StorageError as exc:
            self._note(f"lease: {exc}")
            return []

    def _beat(self) -> None:
        """Likewise for the heartbeat: a dead heartbeat thread lets running jobs' leases lapse
        and another process take them over mid-run."""
        try:
            self.queue.heartbeat(self.running(), self.config.lease_ttl_seconds)
        except StorageError as exc:
            self._note(f"heartbeat: {exc}")

    def _note(self, error: str) -> None:
        with self._lock:
            self.summary.errors.append(" ".join(error.split())[:300])

    def _run(self, job: Job) -> None:
        try:
            key = self._key(job)
            if not self._take_slot(job, key):
                return
            try:
                outcome = self.handler(job) or "done"
            finally:
                self.limiter.release(key)
            acked = self.queue.ack(job, outcome)
            self._count(outcome if acked else "lost")
        except Exception as exc:  # a failing job is retried with backoff, never fatal
            self._retry(job, f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()

    def _key(self, job: Job) -> str:
        """`key_fn(job)`, or the job's own key when it raises: a job whose limiter key cannot
        be worked out (a damaged payload) still runs once and reports, never loops on backoff."""
        try:
            return self.key_fn(job)
        except Exception as exc:  # the handler then meets the same damage and reports it
            self._note(f"{job.key}: limiter key: {type(exc).__name__}: {exc}")
            return job.key

    def _take_slot(self, job: Job, key: str) -> bool:
        """Wait for a slot on `key`; on `stop()` give the job back instead (not an attempt)."""
        while not self.limiter.try_acquire(key, timeout=self.poll_seconds):
            if self._stopping.is_set():
                released = self.queue.release(job)
                self._count("released" if released else "lost")
                return False
        return True

    def _retry(self, job: Job, error: str) -> None:
        backoff = self.config.retry_backoff_seconds * 2 ** max(job.attempts - 1, 0)
        backoff += _JITTER.uniform(0, self.config.jitter_seconds)
        try:
            self.queue.fail_and_retry(job, backoff, self.config.max_job_attempts, error)
        except StorageError as exc:  # the lease lapses and the job is retried then
            self._note(f"{job.key}: recording the failure: {exc}")
        self._count("failed", f"{job.key}: {error}")

    def _count(self, outcome: str, error: str | None = None) -> None:
        with self._lock:
            if outcome in ("done", "skipped", "released"):
                setattr(self.summary, outcome, getattr(self.summary, outcome) + 1)
            else:
                self.summary.failed += 1
            if error:
                self.summary.errors.append(" ".join(error.split())[:300])

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(self.config.heartbeat_seconds):
            self._beat()
        while self.running():
            self._beat()
            time.sleep(min(self.config.heartbeat_seconds, 0.5))
