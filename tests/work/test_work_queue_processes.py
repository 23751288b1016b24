"""WorkQueue across real processes: no job handed out twice, dead owners' leases reclaimed."""

from __future__ import annotations

import contextlib
import os
import socket
from collections import Counter
from pathlib import Path

import pytest
from support.processes import wait_until
from work_helpers import worker

from eventsync.work import WorkQueue
from eventsync.work import queue as queue_module
from eventsync.work.queue import worker_identity

JOBS = 600


def test_processes_leasing_one_file_never_get_the_same_job(wq: WorkQueue, db: Path) -> None:
    for n in range(JOBS):
        wq.enqueue(f"job-{n}", {"n": n})
    procs = [worker("hammer", db) for _ in range(3)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
    per_process = [[line.split() for line in out.splitlines()] for out, _ in outputs]
    claims = Counter(int(job_id) for lines in per_process for job_id, _, _ in lines)
    assert [count for count in claims.values() if count > 1] == []
    assert len(claims) == JOBS
    assert all(acked == "True" for lines in per_process for _, _, acked in lines)
    assert sum(1 for lines in per_process if lines) >= 2, "the processes must have competed"
    stats = wq.stats()
    assert (stats["done"], stats["total"]) == (JOBS, JOBS)


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[-1].split()[0]


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_reclaim_dead_owners_expires_a_killed_process_lease(wq: WorkQueue, other: WorkQueue,
                                                            db: Path, reap: bool) -> None:
    if not reap and not os.path.exists("/proc/self/stat"):
        pytest.skip("zombie detection reads /proc")
    wq.enqueue("drain:x", {"target": "x"})
    proc = worker("hold", db)
    try:
        assert proc.stdout is not None
        job_id = int(proc.stdout.readline())
        assert wq.reclaim_dead_owners() == 0
        assert other.lease("me", 5, 60) == []
        proc.kill()
        if reap:
            proc.wait()
        else:
            wait_until(lambda: proc_state(proc.pid) == "Z")
        assert wq.reclaim_dead_owners() == 1
        [job] = other.lease("me", 5, 60)
        assert (job.id, job.attempts) == (job_id, 2)
        assert wq.reclaim_dead_owners() == 0
    finally:
        proc.kill()
        proc.wait()


def test_reclaim_leaves_live_and_foreign_leases_alone(wq: WorkQueue, other: WorkQueue) -> None:
    wq.enqueue("mine", {})
    wq.lease(worker_identity("me"), 1, 3600)
    wq.enqueue("foreign", {})
    wq.lease("some-other-host:1:x", 1, 3600)
    wq.enqueue("unparsable", {})
    wq.lease(f"{socket.gethostname()}:not-a-pid", 1, 3600)
    assert wq.reclaim_dead_owners() == 0
    assert other.lease("thief", 5, 60) == []


def test_reclaim_does_not_expire_a_lease_taken_over_meanwhile(
        wq: WorkQueue, other: WorkQueue, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between reclaim's look-up and its update another process may reclaim the job; that
    process's fresh lease must survive, or two processes would run the job at once."""
    wq.enqueue("drain:x", {})
    wq.lease(f"{socket.gethostname()}:999999:dead", 1, 0)
    taken = []

    def dead_but_taken_over_meanwhile(owner: str) -> bool:
        taken.extend(other.lease("live", 1, 3600))
        return False

    monkeypatch.setattr(queue_module, "_alive", dead_but_taken_over_meanwhile)
    assert wq.reclaim_dead_owners() == 0
    assert len(taken) == 1
    third = WorkQueue(db)
    with contextlib.closing(third):
        assert third.lease("third", 5, 60) == []
    assert other.ack(taken[0])
