"""A separate process using one WorkQueue file, for the cross-process tests.

    python work_worker.py hammer DB   prints `ready`, waits for a line on stdin, then leases (1-4 at
                                    a time) and acks until the queue stays empty; one line per
                                    job: `<id> <token> <acked>`
    python work_worker.py hold DB     leases one job as `host:pid`, prints its id, then sleeps
"""

from __future__ import annotations

import random
import sys
import time

from eventsync.work.queue import WorkQueue, worker_identity


def hammer(queue: WorkQueue) -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    owner = worker_identity("hammer")
    empty = 0
    while empty < 5:
        jobs = queue.lease(owner, random.randint(1, 4), 60)
        empty = 0 if jobs else empty + 1
        if not jobs:
            time.sleep(0.01)
        for job in jobs:
            print(job.id, job.lease_token, queue.ack(job), flush=True)
        # SQLite's busy handler is not fair: without a pause one process can win every lock and
        # take all jobs, and the test would show no competition at all.
        time.sleep(0.002)


def hold(queue: WorkQueue) -> None:
    jobs = queue.lease(worker_identity(), 1, 3600)
    print(jobs[0].id if jobs else "none", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    {"hammer": hammer, "hold": hold}[mode](WorkQueue(path))
