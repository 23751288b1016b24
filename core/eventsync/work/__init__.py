"""The work domain: a durable leased job queue, per-key limits, and the scheduler that runs
every drain on them.

It owns the `jobs` table (`queue.py`: leases, fencing tokens, backoff, the poison cap), the
in-memory `KeyedLimiter` (`limits.py`) and the `Scheduler` (`scheduler.py`). It imports only the
shared modules: it knows jobs by key and payload, never what a drain or a target is, so delivery
uses it and not the other way round.
"""

from eventsync.work.limits import KeyedLimiter, host_key
from eventsync.work.queue import Job, JobState, WorkQueue
from eventsync.work.scheduler import RunSummary, Scheduler, SchedulerConfig

__all__ = ["Job", "JobState", "KeyedLimiter", "RunSummary", "Scheduler", "SchedulerConfig",
           "WorkQueue", "host_key"]
