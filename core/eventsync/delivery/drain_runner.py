"""Every drain runs as a WorkQueue job keyed `drain:<target name>`, payload `{"target": name}`.

The key is what stops two processes from posting one target at once: a key that is queued or in
progress cannot be enqueued again, and only the lease holder runs it. A job names its target and
nothing else: the URL (which may hold a password or a secret query value) stays in the targets
table, so a finished job kept for a day never holds a secret. One run enqueues each target at
most once: a drain job that ends in error becomes that target's one-line problem instead of
being queued again. A drainer killed mid-drain
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
    return f"drain:{target.name}"


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
        self._hosts: dict[str, str] = {}

    def run(self, targets: list[Target], *, wait: bool = True) -> dict[str, DrainOutcome]:
        """Drain `targets` concurrently; with `wait`, a drain held elsewhere is waited for."""
        wanted = {t.name: t for t in targets}
        self._hosts.update((t.name, _safe_host(t.url)) for t in targets)
        mine: dict[str, int] = {}
        announced: set[str] = set()
        self.queue.reclaim_dead_owners()
        self.queue.purge_finished(FINISHED_JOB_RETENTION_SECONDS)
        while True:
            for target in wanted.values():
                if target.name not in self.outcomes and target.name not in mine:
                    job_id = self.queue.add(drain_key(target), {"target": target.name})
                    if job_id is not None:
                        mine[target.name] = job_id
            Scheduler(self.queue, self._handle, self.config, limiter=self.limiter,
                      key_fn=self._host_of).run_until_idle()
            self._settle(mine)
            if not wait or all(name in self.outcomes for name in wanted):
                return {name: self.outcomes[name] for name in wanted if name in self.outcomes}
            for name in sorted(set(wanted) - set(self.outcomes) - set(mine) - announced):
                announced.add(name)
                if self.on_wait is not None:
                    self.on_wait(name)
            time.sleep(WAIT_POLL_SECONDS)
            self.queue.reclaim_dead_owners()

    def _settle(self, mine: dict[str, int]) -> None:
        """A job of ours that ended in error without an outcome (it failed before or outside
        the handler) is that target's problem, never a reason to enqueue it again. One that
        another process's scheduler took and finished cleanly is enqueued once more, so this
        run still gets its own report."""
        for name, job_id in list(mine.items()):
            finished = self.queue.finished(job_id)
            if name in self.outcomes or finished is None:
                continue
            state, error = finished
            if state == "error":
                self.outcomes[name] = DrainOutcome(name, error=EventSyncError(
                    f"drain of {name} failed: {error or 'no detail'}"))
            else:
                del mine[name]

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

    def _host_of(self, job: Job) -> str:
        """The limiter key: the target's host, found by name (a job carries no URL)."""
        name = str(job.payload.get("target", ""))
        if name not in self._hosts:
            try:
                found = self.drains.targets.find(name)
            except EventSyncError:
                found = None
            self._hosts[name] = _safe_host(found.url) if found is not None else job.key
        return self._hosts[name]

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


def _safe_host(url: str) -> str:
    """`host_key`, or the URL itself when it cannot be parsed: the drain then reports the
    damaged URL as that target's problem, instead of the job failing before it starts."""
    try:
        return host_key(url)
    except ValueError:
        return url
