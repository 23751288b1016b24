"""Retention off: deliver through the receiver contract, then forget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventsync import DeliveryReceiver, DeliveryResult, DeliveryStatus, InvalidEvent, Target
from eventsync.errors import StorageError
from eventsync.events import Event, build_event
from eventsync.queue.offline_queue import OfflineQueue, OfflineQueueSource


def queued(queue: OfflineQueue, make_event, n: int) -> list[str]:
    events = [build_event(make_event()) for _ in range(n)]
    for event in events:
        assert queue.queue_event(event)
    return [event.event_id for event in events]


@pytest.mark.parametrize("status, removed, retries", [
    ("success", 1, None), ("duplicate", 1, None), ("failed_permanent", 1, None),
    ("rejected", 0, 1), ("failed_transient", 0, 0), ("pending", 0, 0),
])
def test_each_status_deletes_or_retries(queue, make_event, disk, status, removed, retries):
    (event_id,) = queued(queue, make_event, 1)
    assert queue.process_batch_results([DeliveryResult(event_id, DeliveryStatus(status))]) \
        == removed
    assert disk(queue.path, "retry_count") == ([] if retries is None else [(retries,)])


def test_malformed_results_write_nothing(queue, make_event, disk):
    ids = queued(queue, make_event, 2)
    before = disk(queue.path, "*")
    for bad in ({"status": "success"}, {"event_id": ids[0]}, ("x", "y")):
        with pytest.raises(InvalidEvent):
            queue.process_batch_results([DeliveryResult(ids[1], "success"), bad])
    assert disk(queue.path, "*") == before and queue.size() == 2


def test_an_unknown_status_word_leaves_the_row_alone_as_spec_kitty_does(queue, make_event,
                                                                        disk):
    ids = queued(queue, make_event, 1)
    assert queue.process_batch_results([{"event_id": ids[0], "status": "great"}]) == 0
    assert disk(queue.path, "retry_count") == [(0,)]


def test_peek_and_drain_are_oldest_first_and_keep_rows(queue, make_event):
    ids = queued(queue, make_event, 4)
    assert [e.event_id for e in queue.peek(3)] == ids[:3]
    assert [e.event_id for e in queue.drain(10)] == ids
    assert queue.size() == 4
    assert queue.peek(0) == []


def test_rows_past_max_retries_are_skipped_but_kept(qpath: Path, make_event, disk):
    with OfflineQueue(qpath, max_retries=2) as queue:
        ids = queued(queue, make_event, 3)
        queue.increment_retry([ids[0], ids[1]])
        queue.increment_retry([ids[0], ids[1]])
        queue.increment_retry([ids[0]])
        assert [e.event_id for e in queue.drain(10)] == ids[1:]
        assert queue.size() == 3 == len(disk(qpath))


def test_exhausted_row_is_not_a_coalescing_target(qpath: Path, make_event):
    with OfflineQueue(qpath, coalesce_types=["WPStatus"], max_retries=1) as queue:
        queue.queue_event(make_event("WPStatus", "WP1"))
        queue.increment_retry([queue.peek(1)[0].event_id])
        queue.increment_retry([queue.peek(1)[0].event_id])
        fresh = queue.append(make_event("WPStatus", "WP1"))
        assert queue.size() == 2 and queue.peek(5) == [fresh]


def test_drain_to_file_writes_json_lines_then_clears(queue, make_event, tmp_path: Path):
    queue.queue_event(make_event(project="p", text="ü"))
    queue.queue_event(make_event())
    expected = queue.peek(10)
    out = tmp_path / "drained.jsonl"
    assert queue.drain_to_file(out) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [Event.from_json(line) for line in lines] == expected
    assert [line for line in lines] == [e.to_json() for e in expected]
    assert queue.size() == 0 and queue.peek(10) == []


def test_drain_to_file_creates_parent_folders(queue, make_event, tmp_path: Path):
    ids = queued(queue, make_event, 2)
    out = tmp_path / "overflow" / "deep" / "out.jsonl"
    assert queue.drain_to_file(out) == 2
    assert [json.loads(line)["event_id"] for line in out.read_text().splitlines()] == ids


def test_drain_to_unwritable_path_keeps_the_queue(queue, make_event, tmp_path: Path, disk):
    queued(queue, make_event, 2)
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "out.jsonl").mkdir()  # a folder where the file should go
    with pytest.raises(StorageError, match="cannot write"):
        queue.drain_to_file(tmp_path / "missing" / "out.jsonl")
    assert queue.size() == 2 == len(disk(queue.path))
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_drain_to_file_of_empty_queue_writes_an_empty_file(queue, tmp_path: Path):
    out = tmp_path / "empty.jsonl"
    assert queue.drain_to_file(out) == 0
    assert out.read_text() == ""


class FlakyReceiver(DeliveryReceiver):
    """Accepts events whose payload says so, fails the rest, forgets to answer for some."""

    type_name = "flaky"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.received: list[str] = []

    def deliver(self, events: list[Event]) -> list[DeliveryResult]:
        self.received.extend(e.event_id for e in events)
        out = []
        for event in events:
            mode = event.payload.get("mode")
            if mode == "ok":
                out.append(DeliveryResult(event.event_id, DeliveryStatus.SUCCESS))
            elif mode == "fail":
                out.append(DeliveryResult(event.event_id, DeliveryStatus.FAILED_TRANSIENT))
        return out


def drain_once(queue: OfflineQueue, receiver: FlakyReceiver, batch: int = 2) -> int:
    source = OfflineQueueSource(queue)
    delivered = 0
    while events := source.next_batch(batch):
        delivered += source.record(receiver.deliver(events))
    return delivered


def test_source_delivers_then_forgets(qpath: Path, make_event, disk):
    """Delivered rows go; a transient failure or a missing answer leaves the row untouched
    (spec-kitty 3.2.x: an outage is not the event's fault), offered again by the next drain."""
    with OfflineQueue(qpath) as queue:
        modes = ["ok", "fail", "ok", "silent", "ok"]
        for mode in modes:
            queue.queue_event(make_event(mode=mode))
        ids = [e.event_id for e in queue.peek(10)]
        receiver = FlakyReceiver(Target("t", "flaky", "http://localhost"))
        assert drain_once(queue, receiver) == 3
        assert receiver.received == ids
        assert disk(qpath, "event_id, retry_count") == [(ids[1], 0), (ids[3], 0)]
        for _ in range(3):
            assert drain_once(queue, receiver) == 0
        assert queue.size() == 2
        assert receiver.received[5:] == [ids[1], ids[3]] * 3
        assert disk(qpath, "retry_count") == [(0,), (0,)]


def test_source_is_bounded_when_it_starts(queue, make_event):
    first = queued(queue, make_event, 2)
    source = OfflineQueueSource(queue)
    queued(queue, make_event, 1)
    assert [e.event_id for e in source.next_batch(10)] == first
    assert source.next_batch(10) == []
    assert source.estimate() == 3


def test_source_accepts_result_dicts(queue, make_event):
    (event_id,) = queued(queue, make_event, 1)
    source = OfflineQueueSource(queue)
    source.next_batch(5)
    assert source.record([{"event_id": event_id, "status": "duplicate"}]) == 1
    assert queue.size() == 0
