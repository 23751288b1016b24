"""The queue file IS spec-kitty's `queue` table (SPEC-KITTY-COMPAT.md §2.2): S2 created, S1
upgraded in place, eventsync's earlier layout converted once, anything else refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from support.spec_kitty import envelope_210, envelope_325, make_queue_file, queue_rows

from eventsync.errors import StorageError
from eventsync.queue.offline_queue import OfflineQueue

S2_COLUMNS = [("id", "INTEGER", 0, 1), ("event_id", "TEXT", 1, 0), ("event_type", "TEXT", 1, 0),
              ("data", "TEXT", 1, 0), ("timestamp", "INTEGER", 1, 0),
              ("retry_count", "INTEGER", 0, 0), ("coalesce_key", "TEXT", 0, 0)]
EARLIER = """
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


def columns(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return [(r[1], r[2], r[3], r[5]) for r in conn.execute("PRAGMA table_info(queue)")]
    finally:
        conn.close()


def indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[1] for r in conn.execute("PRAGMA index_list(queue)")
                if not r[1].startswith("sqlite_")}
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if r[0] != "sqlite_sequence"}
    finally:
        conn.close()


def test_a_new_file_is_spec_kittys_s2_table_and_nothing_else(qpath: Path):
    OfflineQueue(qpath).close()
    assert columns(qpath) == S2_COLUMNS
    assert indexes(qpath) == {"idx_timestamp", "idx_retry", "idx_coalesce_key"}
    assert tables(qpath) == {"queue"}


def test_a_row_is_the_full_envelope_and_the_enqueue_second(qpath: Path):
    import time

    envelope = envelope_325()
    before = int(time.time())
    with OfflineQueue(qpath) as queue:
        assert queue.queue_event(envelope) is True
    [(event_id, event_type, data, stamp, retries, key)] = queue_rows(
        qpath, "event_id, event_type, data, timestamp, retry_count, coalesce_key")
    assert (event_id, event_type, retries, key) == (envelope["event_id"], "WPStatusChanged", 0,
                                                    None)
    stored = json.loads(data)
    assert {k: stored[k] for k in envelope} == envelope
    assert isinstance(stamp, int) and before <= stamp <= int(time.time())


@pytest.mark.parametrize("schema", ["S1", "S2"])
def test_a_spec_kitty_file_opens_counts_and_drains(tmp_path: Path, schema: str):
    envelopes = [envelope_210(), envelope_325(), envelope_325()]
    path = make_queue_file(tmp_path / "queue.db", envelopes, schema=schema)
    with OfflineQueue(path) as queue:
        assert queue.size() == 3
        assert queue.drain_queue(10) == [
            {**json.loads(json.dumps(e)), **{k: v for k, v in d.items() if k not in e}}
            for e, d in zip(envelopes, queue.drain_queue(10), strict=True)]
        assert [e.event_id for e in queue.drain(10)] == [e["event_id"] for e in envelopes]
        assert queue.mark_synced([envelopes[0]["event_id"]]) == 1
        assert queue.size() == 2


def test_an_s1_file_gains_coalesce_key_in_place_and_keeps_every_row(tmp_path: Path):
    envelopes = [envelope_210() for _ in range(3)]
    path = make_queue_file(tmp_path / "queue.db", envelopes, schema="S1")
    assert "coalesce_key" not in {c[0] for c in columns(path)}
    before = queue_rows(path, "id, event_id, data, timestamp, retry_count")
    OfflineQueue(path).close()
    assert [c[0] for c in columns(path)] == [c[0] for c in S2_COLUMNS]
    assert "idx_coalesce_key" in indexes(path)
    assert queue_rows(path, "id, event_id, data, timestamp, retry_count") == before


def test_reopening_changes_nothing(qpath: Path):
    with OfflineQueue(qpath) as queue:
        queue.queue_event(envelope_325())
    before = queue_rows(qpath, "*")
    OfflineQueue(qpath).close()
    assert queue_rows(qpath, "*") == before
    assert columns(qpath) == S2_COLUMNS


def test_eventsyncs_earlier_layout_is_converted_once_keeping_order(qpath: Path):
    conn = sqlite3.connect(qpath)
    with conn:
        conn.execute(EARLIER)
        conn.executemany(
            "INSERT INTO queue (event_id, event_type, aggregate_id, payload, timestamp)"
            " VALUES (?, ?, ?, ?, ?)",
            [(ID1, "WPStatus", "WP1", '{"to":"doing"}', "2024-05-01T10:00:00.000Z"),
             (ID2, "WPCreated", "WP2", "{not json", "2024-05-01T10:00:01.000Z"),
             (ID3, "WPCreated", "WP3", '{"a":1}', "1714557600")])
    conn.close()
    with OfflineQueue(qpath) as queue:
        assert queue.size() == 3  # the damaged row is kept ...
        drained = queue.drain(10)  # ... but never offered
    assert [e.event_id for e in drained] == [ID1, ID3]
    assert drained[1].timestamp == "2024-05-01T10:00:00.000Z"
    assert columns(qpath) == S2_COLUMNS
    assert tables(qpath) == {"queue"}


def test_a_foreign_queue_table_is_refused_untouched(qpath: Path):
    conn = sqlite3.connect(qpath)
    with conn:
        conn.execute("CREATE TABLE queue (job TEXT)")
    conn.close()
    with pytest.raises(StorageError, match="not an offline queue file"):
        OfflineQueue(qpath)
    assert columns(qpath) == [("job", "TEXT", 0, 0)]


def test_missing_folders_are_created_as_spec_kitty_does(tmp_path: Path):
    with OfflineQueue(tmp_path / "nowhere" / "queues" / "queue.db") as queue:
        assert queue.size() == 0
    assert (tmp_path / "nowhere" / "queues" / "queue.db").is_file()


def test_a_folder_that_cannot_be_created_is_a_storage_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot create"):
        OfflineQueue(tmp_path / "file" / "queue.db")


def test_db_path_is_the_file(qpath: Path):
    with OfflineQueue(qpath) as queue:
        assert queue.db_path == qpath
