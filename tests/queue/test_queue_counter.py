"""The cached row counter: every mutation path, checked against the rows really on disk."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from eventsync import DeliveryResult, InvalidEvent, OfflineQueueFull
from eventsync.events import Event, build_event
from eventsync.queue.offline_queue import OfflineQueue


def fill(queue: OfflineQueue, make_event, n: int, **kwargs) -> list[str]:
    ids = []
    for _ in range(n):
        event = build_event(make_event(**kwargs))
        assert queue.queue_event(event)
        ids.append(event.event_id)
    return ids


def counts_statements(queue: OfflineQueue) -> list[str]:
    seen: list[str] = []
    queue._conn.set_trace_callback(seen.append)
    return seen


# -- loading -----------------------------------------------------------------------------------


def test_counter_loads_lazily_on_first_size(qpath: Path, make_event):
    with OfflineQueue(qpath) as queue:
        fill(queue, make_event, 3)
    with OfflineQueue(qpath) as fresh:
        assert fresh._row_count is None
        assert fresh.size() == 3
        assert fresh._row_count == 3


def test_fresh_instance_over_a_populated_file_counts_right(qpath: Path, make_event, disk):
    with OfflineQueue(qpath, max_queue_size=100) as queue:
        fill(queue, make_event, 42)
        queue.mark_synced([eid for (eid,) in disk(qpath)[:2]])
    with OfflineQueue(qpath, max_queue_size=100) as fresh:
        assert fresh.size() == 40 == len(disk(qpath))


def test_hot_path_never_counts_rows(qpath: Path, make_event):
    with OfflineQueue(qpath, max_queue_size=1_000) as queue:
        fill(queue, make_event, 10)
        queue.size()
        statements = counts_statements(queue)
        fill(queue, make_event, 50)
        for _ in range(20):
            queue.size()
        assert queue.size() == 60
    assert not [s for s in statements if "COUNT(" in s.upper()]


def test_count_is_loaded_once(qpath: Path, make_event):
    with OfflineQueue(qpath, max_queue_size=1_000) as queue:
        statements = counts_statements(queue)
        fill(queue, make_event, 30)
        queue.size()
    assert len([s for s in statements if "COUNT(" in s.upper()]) == 1


# -- one test per row of the mutation table --------------------------------------------------


def test_insert_adds_one(queue: OfflineQueue, make_event, disk):
    assert queue.size() == 0
    assert queue.queue_event(make_event())
    assert queue.size() == 1 == len(disk(queue.path))


def test_requeueing_a_queued_event_changes_nothing(queue: OfflineQueue, make_event, disk):
    event = build_event(make_event())
    assert queue.queue_event(event)
    assert queue.queue_event(event)
    assert queue.size() == 1 == len(disk(queue.path))


def test_coalescing_replaces_in_place(queue: OfflineQueue, make_event, disk):
    first = fill(queue, make_event, 1)
    old = build_event(make_event("WPStatus", "WP1", status="doing"))
    queue.queue_event(old)
    last = fill(queue, make_event, 1)
    new = build_event(make_event("WPStatus", "WP1", status="done"))
    assert queue.queue_event(new)
    assert queue.size() == 3 == len(disk(queue.path))
    assert [e.event_id for e in queue.peek(10)] == [first[0], new.event_id, last[0]]
    assert queue.peek(10)[1].payload == {"status": "done"}


def test_coalescing_is_per_type_and_aggregate(queue: OfflineQueue, make_event):
    queue.queue_event(make_event("WPStatus", "WP1"))
    queue.queue_event(make_event("WPStatus", "WP2"))
    queue.queue_event(make_event("WPCreated", "WP1"))
    queue.queue_event(make_event("WPCreated", "WP1"))
    assert queue.size() == 4


def test_increment_retry_leaves_the_count(queue: OfflineQueue, make_event, disk):
    ids = fill(queue, make_event, 3)
    assert queue.increment_retry([ids[0], ids[0], "01UNKNOWN"]) == 1
    assert queue.size() == 3
    assert disk(queue.path, "retry_count") == [(1,), (0,), (0,)]


def test_eviction_keeps_exactly_the_cap(queue: OfflineQueue, make_event, disk, capfd):
    ids = fill(queue, make_event, 8)
    assert queue.size() == 5 == len(disk(queue.path))
    assert [eid for (eid,) in disk(queue.path)] == ids[3:]
    lines = [line for line in capfd.readouterr().err.splitlines() if "evicted" in line]
    assert len(lines) == 3
    assert all("evicted 1 " in line and str(queue.path) in line for line in lines)


def test_eviction_after_lowering_the_cap_warns_once(qpath: Path, make_event, disk, capfd):
    with OfflineQueue(qpath, max_queue_size=50) as big:
        ids = fill(big, make_event, 10)
    with OfflineQueue(qpath, max_queue_size=4) as small:
        newest = fill(small, make_event, 1)
        assert small.size() == 4
    assert [eid for (eid,) in disk(qpath)] == [*ids[7:], *newest]
    lines = [line for line in capfd.readouterr().err.splitlines() if "evicted" in line]
    assert len(lines) == 1 and "evicted 7 " in lines[0] and str(qpath) in lines[0]


def test_mark_synced_counts_rows_really_deleted(queue: OfflineQueue, make_event, disk):
    ids = fill(queue, make_event, 4)
    removed = queue.mark_synced([ids[0], ids[1], ids[1], "01HZZZZZZZZZZZZZZZZZZZZZZZ", "x"])
    assert removed == 2
    assert queue.size() == 2 == len(disk(queue.path))
    assert queue.mark_synced([]) == 0 and queue.size() == 2


def test_mark_synced_takes_a_single_id(queue: OfflineQueue, make_event):
    ids = fill(queue, make_event, 2)
    assert queue.mark_synced(ids[0]) == 1
    assert queue.size() == 1


def test_clear_sets_zero(queue: OfflineQueue, make_event, disk):
    fill(queue, make_event, 4)
    assert queue.clear() == 4
    assert queue.size() == 0 == len(disk(queue.path))


def test_drain_to_file_sets_zero(queue: OfflineQueue, make_event, disk, tmp_path: Path):
    ids = fill(queue, make_event, 3)
    out = tmp_path / "out.jsonl"
    assert queue.drain_to_file(out) == 3
    assert queue.size() == 0 == len(disk(queue.path))
    assert [json.loads(line)["event_id"] for line in out.read_text().splitlines()] == ids


def test_remove_project_events_subtracts_what_went(queue: OfflineQueue, make_event, disk):
    fill(queue, make_event, 2, project="alpha")
    kept = fill(queue, make_event, 1, project="beta")
    kept += fill(queue, make_event, 1)
    assert queue.remove_project_events("alpha") == 2
    assert queue.remove_project_events("nope") == 0
    assert queue.size() == 2
    assert [eid for (eid,) in disk(queue.path)] == kept


def test_process_batch_results_subtracts_what_went(queue: OfflineQueue, make_event, disk):
    ids = fill(queue, make_event, 4)
    removed = queue.process_batch_results([
        DeliveryResult(ids[0], "success"),
        {"event_id": ids[1], "status": "failed_transient"},
        {"event_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "status": "duplicate"},
        DeliveryResult(ids[3], "failed_permanent"),
    ])
    assert removed == 2
    assert queue.size() == 2
    assert disk(queue.path, "event_id, retry_count") == [(ids[1], 0), (ids[2], 0)]


# -- strict append ---------------------------------------------------------------------------


def test_append_at_cap_raises_and_writes_nothing(queue: OfflineQueue, make_event, disk, capfd):
    ids = fill(queue, make_event, 5)
    with pytest.raises(OfflineQueueFull, match="at its cap") as caught:
        queue.append(make_event())
    assert (caught.value.cap, caught.value.current) == (5, 5)
    assert queue.size() == 5
    assert [eid for (eid,) in disk(queue.path)] == ids
    assert capfd.readouterr().err == ""


def test_append_below_cap_returns_the_stored_event(queue: OfflineQueue, make_event):
    event = queue.append(make_event(note="ü"))
    assert isinstance(event, Event)
    assert queue.peek(1) == [event]


def test_append_at_cap_may_still_coalesce(queue: OfflineQueue, make_event):
    fill(queue, make_event, 4)
    queue.append(make_event("WPStatus", "WP9", status="a"))
    new = queue.append(make_event("WPStatus", "WP9", status="b"))
    assert queue.size() == 5
    assert queue.peek(5)[-1] == new


# -- failures ----------------------------------------------------------------------------------


def inject_insert_failure(queue: OfflineQueue) -> None:
    queue._conn.execute(
        "CREATE TRIGGER fail_insert BEFORE INSERT ON queue"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )


@pytest.mark.parametrize("prefill", [2, 5], ids=["below-cap", "at-cap"])
def test_sqlite_failure_mid_insert_changes_nothing(
    queue: OfflineQueue, make_event, disk, capfd, prefill: int
):
    fill(queue, make_event, prefill)
    before_rows = disk(queue.path, "*")
    before_count = queue.size()
    capfd.readouterr()
    inject_insert_failure(queue)
    assert queue.queue_event(make_event()) is False
    assert queue._row_count == before_count
    assert disk(queue.path, "*") == before_rows
    assert capfd.readouterr().err == ""
    queue._conn.execute("DROP TRIGGER fail_insert")
    assert queue.queue_event(make_event())
    assert queue.size() == min(prefill + 1, 5) == len(disk(queue.path))


def test_strict_append_raises_storage_error_on_sqlite_failure(queue: OfflineQueue, make_event):
    from eventsync.errors import StorageError

    inject_insert_failure(queue)
    with pytest.raises(StorageError, match="injected failure"):
        queue.append(make_event())
    assert queue._size_from_disk() == 0


def test_closed_queue_reports_false(qpath: Path, make_event):
    queue = OfflineQueue(qpath)
    queue.close()
    assert queue.queue_event(make_event()) is False


def test_bad_input_raises_and_writes_nothing(queue: OfflineQueue, make_event, disk):
    with pytest.raises(InvalidEvent):
        queue.queue_event({"event_type": "bad type", "aggregate_id": "A"})
    with pytest.raises(InvalidEvent):
        queue.queue_event(make_event() | {"payload": [1, 2]})
    with pytest.raises(InvalidEvent):
        queue.append("not an event")
    assert disk(queue.path) == [] and queue.size() == 0


def test_bad_settings_are_refused(qpath: Path):
    from eventsync.errors import ConfigError

    with pytest.raises(ConfigError):
        OfflineQueue(qpath, max_queue_size=0)
    with pytest.raises(ConfigError):
        OfflineQueue(qpath, max_retries=-1)


def test_event_round_trips_exactly(queue: OfflineQueue, make_event, disk):
    given = build_event(make_event(project="p1", text="naïve ☃", nested={"b": [1, 2.5, None]}))
    queue.queue_event(given)
    (stored,) = queue.peek(1)
    assert stored == given and stored.to_json() == given.to_json()
    assert disk(queue.path, "data") == [(given.to_json(),)]
    assert Event.from_json(given.to_json()) == stored


def test_file_is_plain_sqlite_in_wal_mode(queue: OfflineQueue, make_event):
    queue.queue_event(make_event())
    conn = sqlite3.connect(queue.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
