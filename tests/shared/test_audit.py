"""The audit table: rows survive reopening, join the caller's transaction, and roll back with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eventsync.audit import REFUSED_DISCARD, AuditLog
from eventsync.store import Store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "eventsync.db"


def _rows(db: Path) -> list[tuple[str, str, str]]:
    """What is on disk, read with plain sqlite3 rather than through the module under test."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT kind, subject, detail FROM audit ORDER BY id").fetchall()


def test_recorded_rows_are_on_disk_and_read_back_newest_first(db):
    store = Store(db)
    log = AuditLog(store)
    log.record(REFUSED_DISCARD, "E1", {"event_type": "WPStatusChanged"})
    log.record("migration_conflict", "E2", {"source": "queue.db"})
    log.record(REFUSED_DISCARD, "E3")
    store.close()

    reopened = Store(db)
    log = AuditLog(reopened)
    everything = log.recent()
    refused = log.recent(REFUSED_DISCARD, limit=1)
    counts = (log.count(REFUSED_DISCARD), log.count("migration_conflict"), log.count("other"))
    reopened.close()

    assert [(e.kind, e.subject, e.detail) for e in everything] == [
        (REFUSED_DISCARD, "E3", {}),
        ("migration_conflict", "E2", {"source": "queue.db"}),
        (REFUSED_DISCARD, "E1", {"event_type": "WPStatusChanged"})]
    assert [e.subject for e in refused] == ["E3"]
    assert counts == (2, 1, 0)
    assert all(e.at > 1_600_000_000_000 for e in everything)  # epoch milliseconds
    assert _rows(db)[0] == (REFUSED_DISCARD, "E1", '{"event_type": "WPStatusChanged"}')


def test_a_row_recorded_inside_a_transaction_commits_with_it(db):
    store = Store(db)
    log = AuditLog(store)

    with store.transaction() as conn:
        log.record(REFUSED_DISCARD, "E1", {"n": 1}, conn=conn)
    store.close()

    assert _rows(db) == [(REFUSED_DISCARD, "E1", '{"n": 1}')]


def test_a_row_recorded_inside_a_failed_transaction_is_rolled_back(db):
    store = Store(db)
    log = AuditLog(store)

    with pytest.raises(RuntimeError), store.transaction() as conn:
        log.record(REFUSED_DISCARD, "E1", {}, conn=conn)
        raise RuntimeError("the caller's write failed")

    assert log.count(REFUSED_DISCARD) == 0
    store.close()
    assert _rows(db) == []


def test_counters_accumulate_across_opens(db):
    for _ in range(2):
        store = Store(db)
        log = AuditLog(store)
        log.bump("dropped_local")
        log.bump("dropped_local", by=3)
        store.close()

    store = Store(db)
    log = AuditLog(store)
    assert (log.counter("dropped_local"), log.counter("never_bumped")) == (8, 0)
    store.close()
