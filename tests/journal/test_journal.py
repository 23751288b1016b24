"""The journal: append, append_many, get, len, duplicate ids, transactions (CONTRACTS.md §3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import eventsync
from eventsync.events import build_event, is_ulid
from eventsync.home import DB_NAME
from eventsync.journal.journal import Journal

ULID = "01HZY8J6ZC4M1V3T9Q2K7XW5RB"
OTHER_ULID = "01HZY8J6ZC4M1V3T9Q2K7XW5RC"


def many(n: int, start: int = 0) -> list[dict]:
    return [{"event_type": "Step", "aggregate_id": f"WP{i % 7}", "payload": {"i": i}}
            for i in range(start, start + n)]


def bodies_on_disk(home: Path) -> list[str]:
    conn = sqlite3.connect(home / DB_NAME)
    try:
        return [r[0] for r in conn.execute("SELECT body FROM journal ORDER BY seq")]
    finally:
        conn.close()


def test_append_returns_the_stored_event(journal):
    event = journal.append("WPStatusChanged", "WP01", {"to": "doing"}, aggregate_type="WP",
                           family="local", producer={"user": "ana"})
    assert is_ulid(event.event_id)
    assert journal.get(event.event_id) == event
    assert journal.get(event.event_id).to_json() == event.to_json()
    assert (event.payload, event.aggregate_type, event.family) == ({"to": "doing"}, "WP", "local")
    assert len(journal) == 1


def test_append_without_payload_stores_an_empty_object(journal):
    assert journal.append("A", "x").payload == {}


def test_each_append_is_committed_at_once(journal, rows_on_disk):
    for n in range(1, 4):
        journal.append("A", "x", {"n": n})
        assert rows_on_disk() == n


def test_get_of_an_unknown_id_is_none(journal):
    assert journal.get(ULID) is None
    assert journal.get("not an id") is None


def test_get_finds_an_event_by_any_spelling_of_its_id(journal):
    """Ids are stored as spec-kitty normalises them (CONTRACTS §2); lookups normalise too."""
    ulid = journal.append("A", "x").event_id
    uuid = journal.append("A", "y", event_id="3F0E8C2A-6B1D-4C5E-9A7F-1D2E3F4A5B6C").event_id
    assert journal.get(ulid.lower()).event_id == ulid
    assert journal.get("3f0e8c2a6b1d4c5e9a7f1d2e3f4a5b6c").event_id == uuid


def test_append_keeps_append_order(journal):
    ids = [journal.append("A", "x", {"n": n}).event_id for n in range(5)]
    assert [row.event.event_id for row in journal.rows()] == ids
    assert [row.event.event_id for row in journal.tail(2)] == ids[-2:]


def test_journal_is_a_context_manager_that_closes(home):
    with eventsync.Journal.open() as journal:
        journal.append("A", "x")
        assert len(journal) == 1
    with pytest.raises(eventsync.StorageError, match="closed"):
        len(journal)
    with eventsync.Journal.open(home) as again:
        assert len(again) == 1


def test_open_creates_the_home_and_database(tmp_path):
    home = tmp_path / "new" / "home"
    with Journal.open(home) as journal:
        journal.append("A", "x")
    assert (home / DB_NAME).is_file()


def test_the_journal_offers_no_update_or_delete():
    public = {name for name in dir(Journal) if not name.startswith("_")}
    assert not {n for n in public if n.startswith(("update", "delete", "remove", "edit", "set"))}


# --- duplicate ids ---------------------------------------------------------------------------


def test_same_id_and_identical_body_is_a_no_op_returning_the_stored_event(journal, home):
    first = journal.append("A", "WP1", {"x": 1}, event_id=ULID, timestamp="2024-05-01T10:00:00Z")
    again = journal.append("A", "WP1", {"x": 1}, event_id=ULID, timestamp="2024-05-01T10:00:00Z")
    assert again == first
    assert len(journal) == 1
    assert bodies_on_disk(home) == [first.to_json()]


def test_a_retry_without_timestamp_adopts_the_stored_one(journal):
    first = journal.append("A", "WP1", {"x": 1}, event_id=ULID)
    again = journal.append("A", "WP1", {"x": 1}, event_id=ULID)
    assert again.timestamp == first.timestamp
    assert again == first
    assert len(journal) == 1


def test_appending_a_stored_event_object_again_is_a_no_op(journal):
    event = journal.append("A", "WP1", {"x": 1})
    assert journal.append_event(event) == event
    assert journal.append_event(journal.get(event.event_id)) == event
    assert len(journal) == 1


@pytest.mark.parametrize("change", [
    {"payload": {"x": 2}},
    {"payload": {"x": 1.0}},
    {"payload": {"x": True}},
    {"event_type": "B"},
    {"aggregate_id": "WP2"},
    {"family": "local"},
    {"producer": {"user": "ana"}},
    {"timestamp": "2024-05-01T10:00:01Z"},
], ids=lambda change: next(iter(change)) + "=" + repr(next(iter(change.values()))))
def test_same_id_with_a_different_body_raises_and_writes_nothing(journal, home, change):
    base = {"event_type": "A", "aggregate_id": "WP1", "payload": {"x": 1}, "event_id": ULID,
            "timestamp": "2024-05-01T10:00:00Z"}
    first = journal.append_event(base)
    with pytest.raises(eventsync.DuplicateEventId, match=rf"{ULID}.*nothing was written"):
        journal.append_event({**base, **change})
    assert bodies_on_disk(home) == [first.to_json()]


def test_a_retry_without_timestamp_still_detects_a_changed_payload(journal):
    journal.append("A", "WP1", {"x": 1}, event_id=ULID)
    with pytest.raises(eventsync.DuplicateEventId):
        journal.append("A", "WP1", {"x": True}, event_id=ULID)


def test_an_id_whose_body_gc_removed_cannot_be_appended_again(journal, home):
    journal.append("A", "WP1", {"x": 1}, event_id=ULID)
    conn = sqlite3.connect(home / DB_NAME)
    with conn:
        conn.execute("UPDATE journal SET body = NULL")
    conn.close()
    assert journal.get(ULID) is None
    assert len(journal) == 0
    with pytest.raises(eventsync.DuplicateEventId, match="gc"):
        journal.append("A", "WP1", {"x": 1}, event_id=ULID)
    with pytest.raises(eventsync.DuplicateEventId, match="gc"):
        journal.append_many([{"event_type": "A", "aggregate_id": "WP1", "event_id": ULID}])


# --- append_many -----------------------------------------------------------------------------


def test_append_many_returns_every_event_in_order(journal):
    events = journal.append_many(many(2_500))
    assert [e.payload["i"] for e in events] == list(range(2_500))
    assert len(journal) == 2_500
    assert [row.event for row in journal.rows()] == events
    assert journal.get(events[1234].event_id) == events[1234]


def test_append_many_accepts_event_objects_and_generators(journal):
    prepared = [build_event(d) for d in many(3)]
    stored = journal.append_many(e for e in prepared)
    assert stored == prepared


def test_append_many_of_nothing_writes_nothing(journal, rows_on_disk):
    assert journal.append_many([]) == []
    assert rows_on_disk() == 0


def test_append_many_uses_one_transaction_per_thousand(journal):
    statements: list[str] = []
    journal.store.conn.set_trace_callback(statements.append)
    try:
        journal.append_many(many(2_500))
    finally:
        journal.store.conn.set_trace_callback(None)
    assert sum(s.startswith("BEGIN") for s in statements) == 3
    assert sum(s == "COMMIT" for s in statements) == 3
    assert sum(s.startswith("INSERT INTO journal") for s in statements) == 2_500


def test_a_bad_event_anywhere_writes_nothing_of_the_batch(journal, rows_on_disk):
    batch = many(2_500)
    batch[2_200]["payload"] = {"bad": float("nan")}
    with pytest.raises(eventsync.InvalidEvent, match=r"^event 2201: "):
        journal.append_many(batch)
    assert rows_on_disk() == 0


def test_a_conflict_with_a_stored_event_writes_nothing_of_the_batch(journal, rows_on_disk):
    journal.append("A", "WP1", {"x": 1}, event_id=ULID)
    batch = many(2_500)
    batch[1_700].update(event_id=ULID)
    with pytest.raises(eventsync.DuplicateEventId, match=rf"^event 1701: event_id {ULID}"):
        journal.append_many(batch)
    assert rows_on_disk() == 1


def test_a_conflict_inside_the_batch_writes_nothing(journal, rows_on_disk):
    batch = many(2_500)
    batch[10].update(event_id=OTHER_ULID)
    batch[1_900].update(event_id=OTHER_ULID)
    with pytest.raises(eventsync.DuplicateEventId, match=r"event 1901: .* also used by event 11"):
        journal.append_many(batch)
    assert rows_on_disk() == 0


def test_identical_duplicates_in_a_batch_are_counted_not_stored_twice(journal):
    journal.append("A", "WP1", {"x": 1}, event_id=ULID, timestamp="2024-05-01T10:00:00Z")
    twin = {"event_type": "B", "aggregate_id": "WP2", "event_id": OTHER_ULID}
    report = journal.ingest([
        {"event_type": "A", "aggregate_id": "WP1", "payload": {"x": 1}, "event_id": ULID,
         "timestamp": "2024-05-01T10:00:00Z"},
        twin, dict(twin), *many(3)])
    assert (report.appended, report.duplicates) == (4, 2)
    assert len(journal) == 5
    assert report.events[1] == report.events[2] == journal.get(OTHER_ULID)


def test_appending_the_same_batch_twice_changes_nothing(journal, home):
    batch = [build_event(d) for d in many(1_500)]
    first = journal.ingest(batch)
    before = bodies_on_disk(home)
    second = journal.ingest(batch)
    assert (first.appended, first.duplicates) == (1_500, 0)
    assert (second.appended, second.duplicates) == (0, 1_500)
    assert second.events == first.events
    assert bodies_on_disk(home) == before
