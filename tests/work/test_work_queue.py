"""WorkQueue in one process: leases, fencing, attempts, backoff, stats, and lock hygiene."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from work_helpers import rows, vm_steps

from eventsync.errors import EventSyncError
from eventsync.work import Job, WorkQueue
from eventsync.work.queue import now_ms

HOUR = 3600


def test_lease_claims_exactly_the_rows_it_returns(wq: WorkQueue, db: Path) -> None:
    for n in range(5):
        assert wq.enqueue(f"job-{n}", {"n": n})
    jobs = wq.lease("w1", 3, 60)
    assert [job.key for job in jobs] == ["job-0", "job-1", "job-2"]
    assert [job.payload for job in jobs] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {job.state for job in jobs} == {"in_progress"}
    assert {job.attempts for job in jobs} == {1}
    assert len({job.lease_token for job in jobs}) == 3
    on_disk = rows(db, "SELECT id, lease_token, lease_owner FROM jobs WHERE state = 'in_progress'")
    assert sorted(on_disk) == sorted((job.id, job.lease_token, "w1") for job in jobs)
    assert wq.lease("w1", 0, 60) == []
    assert [job.key for job in wq.lease("w2", 10, 60)] == ["job-3", "job-4"]


def test_enqueue_refuses_a_live_key_and_accepts_a_finished_one(wq: WorkQueue, db: Path) -> None:
    assert wq.enqueue("drain:a", {"try": 1})
    assert not wq.enqueue("drain:a", {"try": 2})
    [job] = wq.lease("w", 1, 60)
    assert not wq.enqueue("drain:a", {"try": 3})
    assert wq.ack(job)
    for outcome in ("skipped", "error"):
        assert wq.enqueue("drain:a", {"try": outcome})
        [job] = wq.lease("w", 1, 60)
        assert wq.ack(job, outcome)
    assert wq.enqueue("drain:a", {"try": "last"})
    states = rows(db, "SELECT state, payload FROM jobs WHERE key = 'drain:a' ORDER BY id")
    assert states == [("done", '{"try": 1}'), ("skipped", '{"try": "skipped"}'),
                      ("error", '{"try": "error"}'), ("queued", '{"try": "last"}')]


def test_ack_rejects_an_outcome_that_is_not_final(wq: WorkQueue) -> None:
    wq.enqueue("k", {})
    [job] = wq.lease("w", 1, 60)
    with pytest.raises(ValueError):
        wq.ack(job, "queued")
    assert wq.get(job.id).state == "in_progress"


def test_a_delayed_job_is_not_leased_early(wq: WorkQueue) -> None:
    assert wq.enqueue("later", {}, delay=HOUR)
    assert wq.lease("w", 5, 60) == []
    assert wq.stats()["delayed"] == 1


def test_heartbeated_lease_outlives_its_first_expiry(wq: WorkQueue, other: WorkQueue) -> None:
    wq.enqueue("long", {})
    [job] = wq.lease("w1", 1, 0.4)
    first_expiry = job.lease_expires_at
    assert first_expiry is not None
    while now_ms() <= first_expiry + 600:
        assert wq.heartbeat([job], 0.4) == 1
        assert other.lease("thief", 5, 60) == []
        time.sleep(0.1)
    held = wq.get(job.id)
    assert held.lease_token == job.lease_token and held.attempts == 1
    assert held.lease_expires_at > first_expiry
    assert wq.ack(job)


def test_heartbeat_extends_by_the_ttl_it_is_given(wq: WorkQueue) -> None:
    wq.enqueue("k", {})
    [job] = wq.lease("w", 1, 1)
    before = now_ms()
    assert wq.heartbeat([job], 1000) == 1
    after = now_ms()
    expires = wq.get(job.id).lease_expires_at
    assert before + 1_000_000 <= expires <= after + 1_000_000
    assert wq.heartbeat([job], 5) == 1
    assert wq.get(job.id).lease_expires_at <= now_ms() + 5000


def test_heartbeat_extends_only_leases_the_caller_still_holds(wq: WorkQueue,
                                                              other: WorkQueue) -> None:
    wq.enqueue("taken-over", {})
    [lost] = wq.lease("w1", 1, 0)
    [taken] = other.lease("w2", 1, 60)
    assert taken.id == lost.id and taken.attempts == 2
    wq.enqueue("still-mine", {})
    [mine] = wq.lease("w1", 1, 60)
    wq.enqueue("finished", {})
    [finished] = wq.lease("w1", 1, 60)
    assert wq.ack(finished)
    assert wq.heartbeat([lost, mine, finished], HOUR) == 1
    assert wq.get(lost.id).lease_expires_at == taken.lease_expires_at
    assert wq.get(mine.id).lease_expires_at >= now_ms() + (HOUR - 60) * 1000
    assert wq.get(finished.id).lease_expires_at is None
    assert wq.heartbeat([], HOUR) == 0


def test_stale_token_is_refused_everywhere(wq: WorkQueue, other: WorkQueue) -> None:
    wq.enqueue("k", {})
    [stale] = wq.lease("w1", 1, 0)
    [current] = other.lease("w2", 1, 60)
    assert stale.lease_token != current.lease_token
    assert wq.ack(stale) is False
    assert wq.fail_and_retry(stale, 0, 5, "late") is False
    assert wq.release(stale) is False
    forged = Job(stale.id, stale.key, stale.payload, "in_progress", 2, "0" * 32, None)
    assert wq.ack(forged) is False
    assert wq.get(current.id).lease_token == current.lease_token
    assert other.ack(current) is True
    assert other.ack(current) is False


def test_reclaiming_an_expired_lease_counts_and_poison_goes_to_error(db: Path) -> None:
    queue = WorkQueue(db, max_attempts=3)
    try:
        queue.enqueue("poison", {})
        tokens = []
        for attempt in (1, 2, 3):
            [job] = queue.lease(f"w{attempt}", 1, 0)
            assert job.attempts == attempt
            tokens.append(job.lease_token)
        assert len(set(tokens)) == 3
        assert queue.lease("w4", 1, 60) == []
        assert queue.get(job.id).state == "error"
        [(last_error,)] = rows(db, "SELECT last_error FROM jobs WHERE id = ?", (job.id,))
        assert "expired 3 times" in last_error
        assert queue.stats()["error"] == 1
        assert queue.enqueue("poison", {})
    finally:
        queue.close()


def test_retry_backoff_is_honoured(wq: WorkQueue, db: Path) -> None:
    wq.enqueue("slow", {})
    wq.enqueue("fast", {})
    slow, fast = wq.lease("w", 2, 60)
    assert wq.fail_and_retry(slow, HOUR, 5, "server  said\nno")
    assert wq.fail_and_retry(fast, 0, 5, "blip")
    [again] = wq.lease("w", 5, 60)
    assert again.key == "fast" and again.attempts == 2
    assert wq.lease("w", 5, 60) == []
    [(state, last_error, available_at, updated_at)] = rows(
        db, "SELECT state, last_error, available_at, updated_at FROM jobs WHERE id = ?",
        (slow.id,))
    assert (state, last_error) == ("queued", "server said no")
    assert HOUR * 1000 - 1000 <= available_at - updated_at <= HOUR * 1000
    assert wq.stats()["delayed"] == 1


def test_fail_past_max_attempts_goes_to_error(wq: WorkQueue, db: Path) -> None:
    wq.enqueue("k", {})
    [job] = wq.lease("w", 1, 60)
    assert wq.fail_and_retry(job, 0, 1, "x" * 600)
    assert wq.lease("w", 1, 60) == []
    [(state, last_error)] = rows(db, "SELECT state, last_error FROM jobs")
    assert state == "error" and last_error == "x" * 500


def test_release_gives_the_job_back_without_counting_an_attempt(wq: WorkQueue) -> None:
    wq.enqueue("k", {})
    [job] = wq.lease("w", 1, 60)
    assert wq.release(job)
    [again] = wq.lease("w", 1, 60)
    assert again.attempts == 1 and again.lease_token != job.lease_token


def test_stats_are_exact(wq: WorkQueue) -> None:
    assert wq.stats() == {"queued": 0, "in_progress": 0, "done": 0, "skipped": 0, "error": 0,
                          "total": 0, "delayed": 0, "expired_leases": 0}
    for outcome in ("done", "skipped", "error"):
        wq.enqueue(outcome, {})
        [job] = wq.lease("w", 1, 60)
        wq.ack(job, outcome)
    wq.enqueue("live", {})
    wq.lease("w", 1, HOUR)
    wq.enqueue("expired", {})
    wq.lease("w", 1, 0)
    wq.enqueue("ready", {})
    wq.enqueue("later", {}, delay=HOUR)
    assert wq.stats() == {"queued": 2, "in_progress": 2, "done": 1, "skipped": 1, "error": 1,
                          "total": 7, "delayed": 1, "expired_leases": 1}


def test_purge_finished_keeps_errors_and_live_jobs(wq: WorkQueue) -> None:
    for outcome in ("done", "skipped", "error"):
        wq.enqueue(outcome, {})
        [job] = wq.lease("w", 1, 60)
        wq.ack(job, outcome)
    wq.enqueue("running", {})
    wq.lease("w", 1, 60)
    wq.enqueue("waiting", {})
    time.sleep(0.01)
    assert wq.purge_finished(HOUR) == 0
    assert wq.purge_finished(0) == 2
    stats = wq.stats()
    assert (stats["done"], stats["skipped"], stats["error"], stats["in_progress"],
            stats["queued"]) == (0, 0, 1, 1, 1)


def test_failures_on_one_thread_never_lock_out_the_others(wq: WorkQueue) -> None:
    """Acking a missing job (and an enqueue that raises mid-transaction) must leave no write
    lock behind; the other threads use a short busy timeout so a leaked lock fails them fast."""
    ghost = Job(999_999, "ghost", {}, "in_progress", 1, "f" * 32, None)
    problems: list[BaseException] = []
    results: list[bool] = []

    def failing() -> None:
        for _ in range(100):
            results.append(wq.ack(ghost))
            results.append(wq.fail_and_retry(ghost, 1, 5, "gone"))
            with contextlib.suppress(TypeError, EventSyncError):
                wq.enqueue("bad", object())

    def working(n: int) -> None:
        wq.store.conn.execute("PRAGMA busy_timeout = 2000")
        try:
            for i in range(40):
                assert wq.enqueue(f"t{n}-{i}", {"i": i})
                for job in wq.lease(f"t{n}", 2, 60):
                    wq.ack(job)
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=failing)]
    threads += [threading.Thread(target=working, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert results and not any(results)
    while jobs := wq.lease("sweeper", 50, 60):
        for job in jobs:
            wq.ack(job)
    stats = wq.stats()
    assert (stats["done"], stats["total"]) == (120, 120)
    assert wq.live_job("bad") is None


def test_leasing_reads_live_jobs_only_not_the_finished_history(wq: WorkQueue, db: Path) -> None:
    """A daemon enqueues a drain per target per round and keeps finished jobs for a day; the
    lease path must not walk that history (counted in SQLite VM steps, not seconds)."""

    def lease_one() -> None:
        wq.enqueue("live", {})
        assert wq.has_ready()
        [job] = wq.lease("w", 1, 60)
        wq.ack(job)

    lease_one()
    before = vm_steps(wq, lease_one)
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO jobs (key, payload, state, attempts, available_at, created_at,"
            " updated_at) VALUES (?, '{}', 'done', 1, 0, 0, 0)",
            ((f"old-{n}",) for n in range(20_000)))
    conn.close()
    after = vm_steps(wq, lease_one)
    assert after < 3 * before + 20, (before, after)
