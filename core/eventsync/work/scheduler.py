"""Scheduler: one leasing thread, a pool of workers under a KeyedLimiter, one heartbeat thread.

The leasing thread never claims more jobs than it has free workers for (a claimed job that
waits in a local queue would let its lease run out while nobody works on it). The heartbeat
extends only the leases of jobs that are running, by the configured TTL.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from eventsync.work.limits import KeyedLimiter
from eventsync.work.queue import Job, WorkQueue, worker_identity

Handler = Callable[[Job], "str | None"]


@dataclass(frozen=True)
class SchedulerConfig:
    """Concurrency, lease and retry settings, validated so a lease cannot outlive its heartbeat."""

    max_workers: int = 4
    max_per_key: int = 2
    lease_ttl_seconds: float = 60
    heartbeat_seconds: float = 10
    max_job_attempts: int = 5
    retry_backoff_seconds: float = 5
    jitter_seconds: float = 2
    batch_size: int = 10

    def __post_init__(self) -> None:
        for name in ("max_workers", "max_per_key", "lease_ttl_seconds", "heartbeat_seconds",
                     "max_job_attempts", "retry_backoff_seconds", "batch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SchedulerConfig.{name} must be positive")
        if self.jitter_seconds < 0:
            raise ValueError("SchedulerConfig.jitter_seconds must not be negative")
        if not self.lease_ttl_seconds > 2 * self.heartbeat_seconds:
            raise ValueError("lease_ttl_seconds must be more than twice heartbeat_seconds")


@dataclass
class RunSummary:
    """How many jobs this scheduler finished, and how."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Scheduler:
    """Runs `handler(job)` for leased jobs; a return value is the ack outcome (default done)."""

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
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start leasing, working and heartbeating in background threads."""
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self.config.max_workers, thread_name_prefix="es-worker")
        for target, name in ((self._lease_loop, "es-lease"), (self._heartbeat_loop, "es-beat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop leasing, let running jobs finish (each acks itself), then stop heartbeating."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            if thread.name == "es-lease":
                thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def run_until_idle(self, timeout: float | None = None) -> RunSummary:
        """Run until nothing is running and nothing can be leased now; delayed retries wait."""
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
        with self._lock:
            if self._running:
                return False
        return not self.queue.has_ready()

    def running(self) -> list[Job]:
        with self._lock:
            return list(self._running.values())

    def _lease_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                free = self.config.max_workers - len(self._running)
            jobs = []
            if free > 0:
                jobs = self.queue.lease(self.worker_id, min(self.config.batch_size, free),
                                        self.config.lease_ttl_seconds)
            for job in jobs:
                with self._lock:
                    self._running[job.id] = job
                assert self._pool is not None
                self._pool.submit(self._run, job)
            if not jobs:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _run(self, job: Job) -> None:
        try:
            with self.limiter.hold(self.key_fn(job)):
                outcome = self.handler(job) or "done"
            acked = self.queue.ack(job, outcome)
            self._count(outcome if acked else "lost")
        except Exception as exc:  # a failing job is retried with backoff, never fatal
            backoff = self.config.retry_backoff_seconds * 2 ** max(job.attempts - 1, 0)
            backoff += random.uniform(0, self.config.jitter_seconds)
            self.queue.fail_and_retry(job, backoff, self.config.max_job_attempts,
                                      f"{type(exc).__name__}: {exc}")
            self._count("failed", f"{job.key}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()

    def _count(self, outcome: str, error: str | None = None) -> None:
        with self._lock:
            if outcome == "done":
                self.summary.done += 1
            elif outcome == "skipped":
                self.summary.skipped += 1
            else:
                self.summary.failed += 1
            if error:
                self.summary.errors.append(" ".join(error.split())[:300])

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(self.config.heartbeat_seconds):
            self.queue.heartbeat(self.running(), self.config.lease_ttl_seconds)
        pool = self._pool
        while pool is not None and self.running():
            self.queue.heartbeat(self.running(), self.config.lease_ttl_seconds)
            time.sleep(min(self.config.heartbeat_seconds, 0.5))
