"""Work orchestration: a durable leased job queue, per-key limits, and the scheduler that runs
every drain on them."""

from eventsync.work.limits import KeyedLimiter, host_key
from eventsync.work.queue import Job, JobState, WorkQueue
from eventsync.work.scheduler import RunSummary, Scheduler, SchedulerConfig

__all__ = ["Job", "JobState", "KeyedLimiter", "RunSummary", "Scheduler", "SchedulerConfig",
           "WorkQueue", "host_key"]
