"""WorkQueue storage: jobs share eventsync.db, times are integers, a claim is one statement."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from work_helpers import vm_steps

from eventsync.delivery.ledger import Ledger
from eventsync.home import DB_NAME
from eventsync.journal.journal import Journal
from eventsync.store import Schema, Store
from eventsync.work import Job, JobState, WorkQueue
from eventsync.work.queue import SCHEMA


def read(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_jobs_live_beside_the_journal_and_ledger_in_eventsync_db(home: Path) -> None:
    with Journal.open(home) as journal:
        first = journal.append("WPStatusChanged", "WP01", {"step": 1})
    db = home / DB_NAME
    with WorkQueue(db) as queue:
        assert queue.enqueue("drain:stub:http://127.0.0.1:9", {"target": "stub"})
        [job] = queue.lease("w", 1, 60)
        assert queue.ack(job)
    store = Store(db)
    try:
        Ledger(store)
    finally:
        store.close()
    with Journal.open(home) as journal, WorkQueue(db) as queue:
        assert journal.get(first.event_id) == first
        journal.append("WPStatusChanged", "WP02", {"step": 2})
        assert len(journal) == 2
        assert queue.stats()["done"] == 1
    components = dict(read(db, "SELECT component, version FROM schema_version"))
    assert {"jobs", "journal", "ledger"} <= set(components)
    assert read(db, "PRAGMA integrity_check") == [("ok",)]


def test_every_time_is_stored_as_integer_milliseconds(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with WorkQueue(db) as queue:
        queue.enqueue("later", {}, delay=3600.0015)
        queue.enqueue("now", {})
        [job] = queue.lease("w", 1, 0.3333)
        queue.heartbeat([job], 1.2345)
    types = read(db, "SELECT DISTINCT typeof(available_at), typeof(created_at),"
                     " typeof(updated_at) FROM jobs")
    assert types == [("integer", "integer", "integer")]
    [(kind, expires)] = read(db, "SELECT typeof(lease_expires_at), lease_expires_at FROM jobs"
                                 " WHERE key = 'now'")
    assert kind == "integer" and expires > 1_600_000_000_000


def test_a_claim_is_one_update_returning_statement(tmp_path: Path) -> None:
    """No look-then-claim: between a SELECT and an UPDATE another process could claim too."""
    with WorkQueue(tmp_path / "jobs.db") as queue:
        for n in range(5):
            queue.enqueue(f"job-{n}", {"n": n})
        statements: list[str] = []
        queue.store.conn.set_trace_callback(statements.append)
        try:
            jobs = queue.lease("w", 3, 60)
        finally:
            queue.store.conn.set_trace_callback(None)
    claims = [s for s in statements if "RETURNING" in s.upper()]
    assert len(claims) == 1 and claims[0].lstrip().upper().startswith("UPDATE JOBS")
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert len(jobs) == 3


def test_jobs_are_frozen_records_with_string_states(tmp_path: Path) -> None:
    with WorkQueue(tmp_path / "jobs.db") as queue:
        queue.enqueue("k", {"nested": {"a": [1, 2]}})
        [job] = queue.lease("w", 1, 60)
        assert isinstance(job, Job) and job.state == JobState.IN_PROGRESS == "in_progress"
        assert job.payload == {"nested": {"a": [1, 2]}}
        with pytest.raises(AttributeError):
            job.state = "done"  # type: ignore[misc]
        assert queue.get(job.id) == job
        assert queue.get(job.id + 1000) is None
    assert [state.value for state in JobState] == [
        "queued", "in_progress", "done", "skipped", "error"]


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_max_attempts_must_be_a_positive_integer(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError):
        WorkQueue(tmp_path / "jobs.db", max_attempts=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "jobs.db").exists()


WAITING = ("queued", 0, None, None, None)
LEASED = ("in_progress", 1, "other")


def test_leasing_costs_the_same_behind_a_long_backlog(tmp_path: Path) -> None:
    """20,000 jobs waiting and 20,000 leased elsewhere must not make each lease read them all
    (which would make draining a backlog quadratic); counted in VM steps, not seconds."""
    db = tmp_path / "jobs.db"
    with WorkQueue(db) as queue:

        def lease_one() -> None:
            assert queue.has_ready()
            [job] = queue.lease("w", 1, 60)
            assert queue.release(job)

        queue.enqueue("first", {})
        lease_one()
        before = vm_steps(queue, lease_one)
        conn = sqlite3.connect(db)
        with conn:
            conn.executemany(
                "INSERT INTO jobs (key, payload, state, attempts, available_at, lease_owner,"
                " lease_token, lease_expires_at, created_at, updated_at)"
                " VALUES (?, '{}', ?, ?, 1, ?, ?, ?, 1, 1)",
                ((f"n-{n}", *(WAITING if n % 2 else (*LEASED, f"t{n}", 2 ** 50)))
                 for n in range(40_000)))
        conn.close()
        after = vm_steps(queue, lease_one)
        assert after < 3 * before + 20, (before, after)


def test_a_jobs_table_from_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with Store(db) as store:
        store.ensure(Schema("jobs", SCHEMA.steps[:1]))
        store.execute("INSERT INTO jobs (key, payload, state, available_at, created_at,"
                      " updated_at) VALUES ('old', '{\"v\": 1}', 'queued', 0, 0, 0)")
    with WorkQueue(db) as queue:
        [job] = queue.lease("w", 5, 60)
        assert (job.key, job.payload) == ("old", {"v": 1})
    assert read(db, "SELECT version FROM schema_version WHERE component = 'jobs'") == [
        (SCHEMA.version,)]
    assert read(db, "SELECT name FROM sqlite_master WHERE name = 'jobs_expiry'") == [
        ("jobs_expiry",)]
