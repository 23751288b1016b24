"""The file layout: created at the current version, legacy (user_version 0) files moved forward."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from eventsync.errors import StorageError
from eventsync.events import build_event
from eventsync.queue.offline_queue import QUEUE_FORMAT, OfflineQueue

LEGACY_V0 = """
CREATE TABLE queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    retry_count  INTEGER NOT NULL DEFAULT 0,
    coalesce_key TEXT
)
"""
OLDEST = """
CREATE TABLE queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      TEXT NOT NULL,
    timestamp    TEXT NOT NULL
)
"""
ID1, ID2, ID3 = (f"01HV000000000000000000000{n}" for n in (1, 2, 3))


def raw(path: Path, *statements: tuple[str, tuple]) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            for sql, params in statements:
                conn.execute(sql, params)
    finally:
        conn.close()


def pragma(path: Path, name: str):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchall()
    finally:
        conn.close()


def make_legacy(path: Path, ddl: str = LEGACY_V0) -> None:
    insert = "INSERT INTO queue (event_id, event_type, aggregate_id, payload, timestamp"
    with_retry = ddl is LEGACY_V0
    cols = ", retry_count, coalesce_key) VALUES (?, ?, ?, ?, ?, ?, ?)" if with_retry \
        else ") VALUES (?, ?, ?, ?, ?)"
    rows = [
        (ID1, "WPStatus", "WP1", '{"to":"doing"}', "2024-05-01T10:00:00.000Z", 2, "legacy:WP1"),
        (ID2, "WPCreated", "WP2", "{not json", "2024-05-01T10:00:01.000Z", 0, None),
        (ID3, "WPCreated", "WP3", '{"b":1,"a":"ü"}', "2024-05-01T10:00:02.000Z", 0, None),
    ]
    raw(path, (ddl, ()), *((insert + cols, row if with_retry else row[:5]) for row in rows))


def test_new_file_is_created_at_the_current_version(qpath: Path):
    OfflineQueue(qpath).close()
    assert pragma(qpath, "user_version") == [(QUEUE_FORMAT,)]
    columns = [row[1] for row in pragma(qpath, "table_info(queue)")]
    assert columns == ["id", "event_id", "event_type", "aggregate_id", "payload", "timestamp",
                       "retry_count", "coalesce_key", "body", "project_id"]


def test_legacy_file_migrates_forward_and_keeps_every_row(qpath: Path, disk, tmp_path: Path):
    make_legacy(qpath)
    with OfflineQueue(qpath, coalesce_types=["WPStatus"]) as queue:
        assert pragma(qpath, "user_version") == [(QUEUE_FORMAT,)]
        assert queue.size() == 3
        readable = queue.peek(10)
        assert [e.event_id for e in readable] == [ID1, ID3]
        assert readable[1].payload == {"a": "ü", "b": 1}
        assert disk(qpath, "retry_count, coalesce_key") == [
            (2, "WPStatus|WP1"), (0, None), (0, None)]
        out = tmp_path / "legacy.jsonl"
        assert queue.drain_to_file(out) == 3
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["event_id"] for line in lines] == [ID1, ID2, ID3]
    assert lines[1]["payload"] == "{not json"


def test_migrated_legacy_row_coalesces_with_new_events(qpath: Path, disk):
    make_legacy(qpath)
    with OfflineQueue(qpath, coalesce_types=["WPStatus"]) as queue:
        new = build_event({"event_type": "WPStatus", "aggregate_id": "WP1",
                           "payload": {"to": "done"}})
        assert queue.queue_event(new)
        assert queue.size() == 3
        assert [eid for (eid,) in disk(qpath)] == [new.event_id, ID2, ID3]


def test_oldest_layout_gains_every_missing_column(qpath: Path, disk):
    make_legacy(qpath, OLDEST)
    with OfflineQueue(qpath) as queue:
        assert queue.size() == 3
        assert [e.event_id for e in queue.peek(10)] == [ID1, ID3]
        queue.increment_retry([ID1])
    assert disk(qpath, "retry_count") == [(1,), (0,), (0,)]


def test_reopening_changes_nothing(qpath: Path, disk, make_event):
    make_legacy(qpath)
    OfflineQueue(qpath).close()
    before = disk(qpath, "*")
    OfflineQueue(qpath).close()
    assert disk(qpath, "*") == before


def test_newer_file_is_refused_untouched(qpath: Path):
    make_legacy(qpath)
    raw(qpath, (f"PRAGMA user_version = {QUEUE_FORMAT + 1}", ()))
    with pytest.raises(StorageError, match="newer eventsync"):
        OfflineQueue(qpath)
    assert [row[1] for row in pragma(qpath, "table_info(queue)")][-1] == "coalesce_key"


def test_foreign_queue_table_is_refused(qpath: Path):
    raw(qpath, ("CREATE TABLE queue (id INTEGER PRIMARY KEY, job TEXT)", ()))
    with pytest.raises(StorageError, match="not an offline queue file"):
        OfflineQueue(qpath)
    assert [row[1] for row in pragma(qpath, "table_info(queue)")] == ["id", "job"]


def test_missing_folders_are_created_as_spec_kitty_does(tmp_path: Path):
    with OfflineQueue(tmp_path / "nowhere" / "queues" / "queue.db") as queue:
        assert queue.size() == 0
    assert (tmp_path / "nowhere" / "queues" / "queue.db").is_file()


def test_a_folder_that_cannot_be_created_is_a_storage_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot create"):
        OfflineQueue(tmp_path / "file" / "queue.db")


@pytest.mark.parametrize("stored, expected", [
    (1714557600, "2024-05-01T10:00:00.000Z"),
    (1714557600123, "2024-05-01T10:00:00.123Z"),
    ("2024-05-01T12:00:00.123+02:00", "2024-05-01T10:00:00.123Z"),
    ("2024-05-01T10:00:00", "2024-05-01T10:00:00.000Z"),
])
def test_legacy_timestamps_are_brought_to_utc_z(qpath: Path, stored, expected):
    raw(qpath, (OLDEST, ()), (
        "INSERT INTO queue (event_id, event_type, aggregate_id, payload, timestamp)"
        " VALUES (?, 'T', 'A', '{}', ?)", (ID1, stored)))
    with OfflineQueue(qpath) as queue:
        assert [e.timestamp for e in queue.peek(5)] == [expected]


def test_unreadable_legacy_timestamp_keeps_the_row_out_of_delivery(qpath: Path, disk):
    raw(qpath, (OLDEST, ()), (
        "INSERT INTO queue (event_id, event_type, aggregate_id, payload, timestamp)"
        " VALUES (?, 'T', 'A', '{}', 'yesterday')", (ID1,)))
    with OfflineQueue(qpath) as queue:
        assert queue.size() == 1 and queue.peek(5) == []
    assert disk(qpath, "body") == [(None,)]
