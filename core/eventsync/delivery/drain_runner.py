"""Every drain runs as a WorkQueue job keyed `drain:<target identity>`.

The key is what stops two processes from posting one target at once: a key that is queued or in
progress cannot be enqueued again, and only the lease holder runs it. A drainer killed mid-drain
leaves its lease behind; the next run reclaims it (at once when the dead process was on this
host, else when the lease expires) and re-posts the unrecorded batch, which the receiver answers
`duplicate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eventsync.config import EventSyncConfig
from eventsync.delivery.dispatcher import DEFAULT_BATCH_SIZE, DrainReport
from eventsync.delivery.drains import Drains
from eventsync.errors import ConfigError, EventSyncError
from eventsync.home import DB_NAME
from eventsync.receivers import Target
from eventsync.work import KeyedLimiter, Scheduler, SchedulerConfig, WorkQueue, host_key
from eventsync.work.queue import Job

WAIT_POLL_SECONDS = 0.2
FINISHED_JOB_RETENTION_SECONDS = 24 * 3600


def drain_key(target: Target) -> str:
    return f"drain:{target.identity}"


@dataclass
class DrainOutcome:
    """What happened to one target in one run: a report, or the error that stopped it."""

    target: str
    report: DrainReport | None = None
    error: EventSyncError | None = None


@dataclass
class DrainRunner:
    """Enqueues drain jobs and runs them on a Scheduler, bounded per target host."""

    drains: Drains
    home: Path
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    batch_size: int = DEFAULT_BATCH_SIZE
    progress: Callable[[int], None] | None = None
    on_start: Callable[[int], None] | None = None
    should_stop: Callable[[], bool] | None = None
    on_wait: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.home / DB_NAME, max_attempts=self.config.max_job_attempts)
        self.limiter = KeyedLimiter(self.config.max_per_key)
        self.outcomes: dict[str, DrainOutcome] = {}

    def run(self, targets: list[Target], *, wait: bool = True) -> dict[str, DrainOutcome]:
        """Drain `targets` concurrently; with `wait`, a drain held elsewhere is waited for."""
        wanted = {t.name: t for t in targets}
        announced: set[str] = set()
        self.queue.reclaim_dead_owners()
        self.queue.purge_finished(FINISHED_JOB_RETENTION_SECONDS)
        while True:
            for target in wanted.values():
                if target.name not in self.outcomes:
                    self.queue.enqueue(drain_key(target), {"target": target.name,
                                                           "url": target.url})
            Scheduler(self.queue, self._handle, self.config, limiter=self.limiter,
                      key_fn=_host_of).run_until_idle()
            if not wait or all(name in self.outcomes for name in wanted):
                return {name: self.outcomes[name] for name in wanted if name in self.outcomes}
            for name in sorted(set(wanted) - set(self.outcomes) - announced):
                announced.add(name)
                if self.on_wait is not None:
                    self.on_wait(name)
            time.sleep(WAIT_POLL_SECONDS)
            self.queue.reclaim_dead_owners()

    def busy_elsewhere(self, target: Target) -> bool:
        job = self.queue.live_job(drain_key(target))
        return job is not None and job.state == "in_progress"

    def _handle(self, job: Job) -> str:
        name = job.payload["target"]
        try:
            target = self.drains.targets.get(name)
            report = self.drains.drain_target(target, batch_size=self.batch_size,
                                              progress=self.progress, on_start=self.on_start,
                                              should_stop=self.should_stop)
        except EventSyncError as exc:
            self.outcomes[name] = DrainOutcome(name, error=exc)
            return "skipped"
        except Exception as exc:  # a bug in a receiver or here: report it, don't loop on it
            error = EventSyncError(f"drain of {name} failed: {type(exc).__name__}: {exc}")
            self.outcomes[name] = DrainOutcome(name, error=error)
            return "error"
        self.outcomes[name] = DrainOutcome(name, report=report)
        return "done"

    def stats(self) -> dict[str, int]:
        return self.queue.stats()

    def close(self) -> None:
        self.queue.close()


def scheduler_config(config: EventSyncConfig) -> SchedulerConfig:
    """The work settings of config.toml, validated like any other setting."""
    try:
        return SchedulerConfig(max_workers=config.max_workers, max_per_key=config.max_per_host,
                               lease_ttl_seconds=config.lease_ttl_seconds,
                               heartbeat_seconds=config.heartbeat_seconds)
    except ValueError as exc:
        raise ConfigError(f"work settings: {exc}") from None


def _host_of(job: Job) -> str:
    return host_key(job.payload.get("url", job.key))
