"""Hostile event fields and payloads: a clean one-line `InvalidEvent` with nothing written, or a
stored event whose bytes are canonical and which round-trips (re-importing it is a no-op)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_helpers import (
    BIG_FUZZ,
    FUZZ,
    HEAVY_FUZZ,
    count_rows,
    event_dicts,
    nested,
    valid_event_dicts,
)

from eventsync.errors import DuplicateEventId, InvalidEvent
from eventsync.events import EVENT_KEYS, Event, build_event, canonical_json
from eventsync.journal.journal import Journal
from eventsync.store import Store


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    store = Store(tmp_path / "eventsync.db")
    yield Journal(store)
    store.close()


def journal_rows(journal: Journal) -> int:
    return count_rows(journal.store.path, "journal")


def assert_clean_message(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    assert len(text) < 600, len(text)
    assert "Traceback" not in text


def assert_canonical(event: Event, given_payload: Any) -> None:
    """The stored bytes are canonical JSON of exactly the event's public keys and payload."""
    text = event.to_json()
    loaded = json.loads(text)
    assert canonical_json(loaded) == text
    assert set(EVENT_KEYS) <= set(loaded)
    assert set(loaded) - set(EVENT_KEYS) == set(event.extra)  # envelope fields, kept verbatim
    assert loaded["payload"] == json.loads(json.dumps(given_payload))


def check_build(data: dict[str, Any]) -> None:
    try:
        event = build_event(data)
    except InvalidEvent as exc:
        assert_clean_message(exc)
        return
    assert_canonical(event, data["payload"])


@FUZZ
@given(data=event_dicts())
def test_build_event_gives_a_clean_error_or_a_canonical_event(data: dict[str, Any]) -> None:
    check_build(data)


@pytest.mark.slow
@BIG_FUZZ
@given(data=event_dicts())
def test_build_event_many_more_examples(data: dict[str, Any]) -> None:
    check_build(data)


@FUZZ
@given(data=event_dicts())
def test_append_writes_one_canonical_row_or_nothing(journal: Journal,
                                                    data: dict[str, Any]) -> None:
    before = journal_rows(journal)
    try:
        event = journal.append_event(data)
    except (InvalidEvent, DuplicateEventId) as exc:
        assert_clean_message(exc)
        assert journal_rows(journal) == before
        return
    after = journal_rows(journal)
    assert after in (before, before + 1)
    stored = journal.get(event.event_id)
    assert stored is not None and stored.to_json() == event.to_json()
    assert_canonical(stored, data["payload"])
    # what `events list --json` shows can be imported again: the same event, no new row
    again = journal.append_event(json.loads(stored.to_json()))
    assert again.to_json() == stored.to_json()
    assert journal_rows(journal) == after


@HEAVY_FUZZ
@given(good=st.lists(valid_event_dicts(), min_size=1, max_size=8), bad=event_dicts(),
       where=st.integers(0, 8))
def test_append_many_is_all_or_nothing(journal: Journal, good: list[dict[str, Any]],
                                       bad: dict[str, Any], where: int) -> None:
    batch = [*good[:where], bad, *good[where:]]
    before = journal_rows(journal)
    try:
        stored = journal.append_many(batch)
    except (InvalidEvent, DuplicateEventId) as exc:
        assert_clean_message(exc)
        assert journal_rows(journal) == before
        return
    assert len(stored) == len(batch)
    assert journal_rows(journal) == before + len({e.event_id for e in stored})


# -- regressions found by the fuzz --------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    {10: "a", 9: "b"},
    {"outer": {1: "x"}},
    {"list": [{None: 1}]},
    {True: 1},
    {1.5: "x", 2: "y"},
])
def test_non_string_payload_keys_are_refused(journal: Journal, payload: dict[Any, Any]) -> None:
    """JSON object keys are strings. `{10: .., 9: ..}` used to be stored with its keys in numeric
    order (`{"9":..,"10":..}`), which is not canonical: the same event read back and imported
    again was then refused as "already exists with a different body"."""
    with pytest.raises(InvalidEvent, match="keys must be strings"):
        journal.append("T", "A1", payload)
    assert journal_rows(journal) == 0


def test_an_exported_event_imports_again_as_a_duplicate(journal: Journal) -> None:
    event = journal.append("T", "A1", {"10": "a", "9": "b", "n": [1, 2.5, None]})
    exported = json.loads(journal.get(event.event_id).to_json())
    assert journal.ingest([exported]).duplicates == 1
    assert journal_rows(journal) == 1


def test_payload_nested_beyond_the_recursion_limit_is_one_line_error(journal: Journal) -> None:
    with pytest.raises(InvalidEvent) as caught:
        journal.append("T", "A1", {"deep": nested(50_000)})
    assert_clean_message(caught.value)
    assert journal_rows(journal) == 0


def test_an_envelope_field_named_with_line_breaks_is_reported_on_one_line() -> None:
    with pytest.raises(InvalidEvent) as caught:
        build_event({"event_type": "T", "aggregate_id": "A", "\n" + "x" * 10_000: object()})
    assert_clean_message(caught.value)
    kept = build_event({"event_type": "T", "aggregate_id": "A", "\n" + "x" * 10: 1})
    assert kept.extra == {"\n" + "x" * 10: 1}
