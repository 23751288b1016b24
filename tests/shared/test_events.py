"""The event record: validation, canonical JSON and ULIDs (CONTRACTS.md §2)."""

from __future__ import annotations

import json
import math
import multiprocessing
import re
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsync
from eventsync.events import (
    EVENT_KEYS,
    MAX_EVENT_BYTES,
    Event,
    build_event,
    canonical_json,
    is_ulid,
    new_ulid,
)

GOOD = {"event_type": "WPStatusChanged", "aggregate_id": "WP01"}
ULID = "01HZY8J6ZC4M1V3T9Q2K7XW5RB"


def circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


BAD_EVENTS = {
    "event not an object": ["not", "a", "dict"],
    "payload is a list": {**GOOD, "payload": [1, 2]},
    "payload is a string": {**GOOD, "payload": "{}"},
    "payload is null": {**GOOD, "payload": None},
    "payload holds an object()": {**GOOD, "payload": {"x": object()}},
    "payload holds a set": {**GOOD, "payload": {"x": {1, 2}}},
    "payload holds bytes": {**GOOD, "payload": {"x": b"raw"}},
    "payload is circular": {**GOOD, "payload": circular()},
    "payload holds NaN": {**GOOD, "payload": {"x": math.nan}},
    "payload holds Infinity": {**GOOD, "payload": {"x": math.inf}},
    "payload holds -Infinity": {**GOOD, "payload": {"x": [-math.inf]}},
    "lone surrogate in a value": {**GOOD, "payload": {"x": "a\ud800b"}},
    "lone surrogate in a key": {**GOOD, "payload": {"\udfff": 1}},
    "oversize payload": {**GOOD, "payload": {"x": "y" * MAX_EVENT_BYTES}},
    "empty type": {**GOOD, "event_type": ""},
    "type with a space": {**GOOD, "event_type": "WP Status"},
    "type with a slash": {**GOOD, "event_type": "a/b"},
    "type with a trailing newline": {**GOOD, "event_type": "WPStatus\n"},
    "type not ASCII": {**GOOD, "event_type": "Statüs"},
    "type too long": {**GOOD, "event_type": "x" * 129},
    "type missing": {"aggregate_id": "WP01"},
    "type not a string": {**GOOD, "event_type": 7},
    "id too short": {**GOOD, "event_id": ULID[:-1]},
    "id with a U": {**GOOD, "event_id": ULID[:-1] + "U"},
    "id with an I": {**GOOD, "event_id": ULID[:-1] + "I"},
    "id with an l": {**GOOD, "event_id": ULID[:-1] + "l"},
    "id with an o": {**GOOD, "event_id": ULID[:-1] + "o"},
    "id a UUID with a non-hex digit": {**GOOD,
                                       "event_id": "g" * 8 + "-1111-2222-3333-444455556666"},
    "id 31 hex digits": {**GOOD, "event_id": "a" * 31},
    "id with a trailing newline": {**GOOD, "event_id": ULID + "\n"},
    "id not a string": {**GOOD, "event_id": 12345},
    "timestamp naive": {**GOOD, "timestamp": "2024-05-01T10:00:00"},
    "timestamp naive with micros": {**GOOD, "timestamp": "2024-05-01T10:00:00.123456"},
    "timestamp impossible offset": {**GOOD, "timestamp": "2024-05-01T10:00:00+25:00"},
    "timestamp not in UTC": {**GOOD, "timestamp": "2024-05-01T12:00:00+02:00"},
    "timestamp west of UTC": {**GOOD, "timestamp": "2024-05-01T05:30:00.5-04:30"},
    "timestamp date only": {**GOOD, "timestamp": "2024-05-01"},
    "timestamp impossible date": {**GOOD, "timestamp": "2024-02-30T10:00:00Z"},
    "timestamp with a newline": {**GOOD, "timestamp": "2024-05-01T10:00:00Z\n"},
    "timestamp full-width digits": {**GOOD, "timestamp": "２０２４-05-01T10:00:00Z"},
    "timestamp as a number": {**GOOD, "timestamp": 1714557600},
    "typo in a required field": {"evnt_type": "WPStatusChanged", "aggregate_id": "WP01"},
    "envelope field not JSON": {**GOOD, "node_id": object()},
    "envelope field NaN": {**GOOD, "lamport_clock": math.nan},
    "envelope field lone surrogate": {**GOOD, "build_id": "\ud800"},
    "envelope oversize": {**GOOD, "correlation_id": "y" * MAX_EVENT_BYTES},
    "family unknown": {**GOOD, "family": "remote"},
    "family null": {**GOOD, "family": None},
    "producer a string": {**GOOD, "producer": "alice"},
    "producer unknown key": {**GOOD, "producer": {"email": "a@example.org"}},
    "producer non-string value": {**GOOD, "producer": {"user": 5}},
    "producer lone surrogate": {**GOOD, "producer": {"user": "\ud800"}},
    "aggregate_id missing": {"event_type": "A"},
    "aggregate_id empty": {**GOOD, "aggregate_id": ""},
    "aggregate_id a number": {**GOOD, "aggregate_id": 1},
    "aggregate_id with a newline": {**GOOD, "aggregate_id": "WP\n01"},
    "aggregate_id too long": {**GOOD, "aggregate_id": "x" * 257},
    "aggregate_type with NUL": {**GOOD, "aggregate_type": "a\x00"},
    "aggregate_type a number": {**GOOD, "aggregate_type": 3},
}


@pytest.mark.parametrize("data", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_bad_input_raises_invalid_event_and_writes_nothing(data, journal, rows_on_disk):
    with pytest.raises(eventsync.InvalidEvent) as caught:
        journal.append_event(data)
    message = str(caught.value)
    assert "\n" not in message and 0 < len(message) < 300
    assert rows_on_disk() == 0
    assert len(journal) == 0


@pytest.mark.parametrize("data", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_bad_input_is_refused_by_build_event_too(data):
    with pytest.raises(eventsync.InvalidEvent):
        build_event(data)


def test_invalid_event_is_a_value_error_and_an_eventsync_error():
    with pytest.raises(ValueError):
        build_event({**GOOD, "payload": []})
    assert issubclass(eventsync.InvalidEvent, eventsync.EventSyncError)


def test_error_messages_say_what_is_wrong():
    cases = {
        "NaN or Infinity": {**GOOD, "payload": {"x": math.nan}},
        "lone surrogate": {**GOOD, "payload": {"x": "\ud800"}},
        "not JSON-serialisable": {**GOOD, "payload": {"x": object()}},
        "over the 262144-byte limit": {**GOOD, "payload": {"x": "y" * MAX_EVENT_BYTES}},
        "event_type": {**GOOD, "event_type": "a b"},
        "neither a ULID": {**GOOD, "event_id": "nope"},
        "ISO-8601 with a UTC offset": {**GOOD, "timestamp": "yesterday"},
        "has no UTC offset": {**GOOD, "timestamp": "2024-05-01T10:00:00"},
        "is not in UTC (offset +02:00)": {**GOOD, "timestamp": "2024-05-01T12:00:00+02:00"},
        "the event is": {**GOOD, "node_id": "y" * MAX_EVENT_BYTES},
        "family must be one of teamspace, local": {**GOOD, "family": "remote"},
    }
    for expected, data in cases.items():
        with pytest.raises(eventsync.InvalidEvent, match=re.escape(expected)):
            build_event(data)


def test_a_huge_bad_value_gives_a_short_message():
    with pytest.raises(eventsync.InvalidEvent) as caught:
        build_event({**GOOD, "event_type": "bad type " * 100_000})
    assert len(str(caught.value)) < 200


def test_size_limit_is_the_whole_events_canonical_json_inclusive_in_utf8_bytes():
    """CONTRACTS §2: the canonical JSON of the whole event, not only its payload, is at most
    `max_event_bytes` (a payload just under the limit used to pass with the event over it)."""
    fixed = {**GOOD, "event_id": ULID, "timestamp": "2026-01-01T00:00:00Z"}
    overhead = len(build_event({**fixed, "payload": {"x": ""}}).to_json())
    at_limit = build_event({**fixed, "payload": {"x": "y" * (MAX_EVENT_BYTES - overhead)}})
    assert len(at_limit.to_json()) == MAX_EVENT_BYTES
    with pytest.raises(eventsync.InvalidEvent, match="the event is 262145 bytes"):
        build_event({**fixed, "payload": {"x": "y" * (MAX_EVENT_BYTES - overhead + 1)}})
    two_byte = "é" * ((MAX_EVENT_BYTES - overhead) // 2 + 1)
    with pytest.raises(eventsync.InvalidEvent, match="bytes"):
        build_event({**fixed, "payload": {"x": two_byte}})
    with pytest.raises(eventsync.InvalidEvent, match="the event is"):
        build_event({**fixed, "aggregate_id": "é" * 200,
                     "payload": {"x": "y" * (MAX_EVENT_BYTES - overhead - 200)}})


def test_max_event_bytes_is_configurable():
    with pytest.raises(eventsync.InvalidEvent):
        build_event({**GOOD, "payload": {"x": "y" * 100}}, max_event_bytes=50)


def test_defaults_are_filled_in():
    event = build_event(GOOD)
    assert is_ulid(event.event_id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event.timestamp)
    assert (event.payload, event.aggregate_type, event.producer, event.family) == (
        {}, "", None, "teamspace")


def test_given_fields_are_kept_exactly():
    data = {**GOOD, "event_id": ULID, "timestamp": "2024-05-01T10:00:00.123456Z",
            "aggregate_type": "WorkPackage", "family": "local",
            "producer": {"user": "ana", "team": None, "project": "p1"}, "payload": {"to": "done"}}
    assert build_event(data).to_dict() == data


def test_canonical_json_sorts_keys_and_has_no_spaces():
    value = {"b": 1, "a": {"d": [1, 2.5, None, True], "c": "é ü"}, "A": "x"}
    assert canonical_json(value) == '{"A":"x","a":{"c":"é ü","d":[1,2.5,null,true]},"b":1}'


def test_to_json_is_the_canonical_json_of_to_dict():
    event = build_event({**GOOD, "aggregate_id": 'W"P\\01\t', "aggregate_type": "ü",
                         "producer": {"user": "ana", "project": "p"},
                         "payload": {"z": 1, "a": ["é", {"y": None, "b": 0.1}]}})
    assert event.to_json() == canonical_json(event.to_dict())
    assert json.loads(event.to_json()) == event.to_dict()
    assert list(json.loads(event.to_json())) == sorted(EVENT_KEYS)


def test_from_json_round_trips():
    event = build_event({**GOOD, "payload": {"n": [1, 2]}, "producer": {"team": "t"}})
    again = Event.from_json(event.to_json())
    assert again == event
    assert again.to_json() == event.to_json()


json_leaf = st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20) | \
    st.floats(allow_nan=False, allow_infinity=False)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
text_field = st.text(min_size=1, max_size=40).filter(
    lambda s: not any(ch in s for ch in "\x00\n\r") and not any(
        0xD800 <= ord(ch) <= 0xDFFF for ch in s))


@settings(max_examples=150, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=10), json_value, max_size=5),
       aggregate_id=text_field, aggregate_type=text_field | st.just(""))
def test_property_spliced_json_equals_canonical_json(payload, aggregate_id, aggregate_type):
    event = build_event({"event_type": "T", "aggregate_id": aggregate_id,
                         "aggregate_type": aggregate_type, "payload": payload})
    assert event.to_json() == canonical_json(event.to_dict())
    assert json.loads(event.to_json()) == json.loads(canonical_json(event.to_dict()))


def test_ulids_are_valid_unique_and_monotonic():
    ids = [new_ulid() for _ in range(20_000)]
    assert all(is_ulid(i) for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ulids_from_many_threads_are_unique():
    found: list[list[str]] = [[] for _ in range(4)]

    def make(bucket: list[str]) -> None:
        bucket.extend(new_ulid() for _ in range(3_000))

    threads = [threading.Thread(target=make, args=(b,)) for b in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for bucket in found for i in bucket]
    assert len(set(every)) == len(every)
    assert all(bucket == sorted(bucket) for bucket in found)


def _child_ids(queue: Any) -> None:
    queue.put([new_ulid() for _ in range(2_000)])


def test_a_forked_child_does_not_repeat_the_parents_ids():
    new_ulid()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_ids, args=(queue,))
    child.start()
    mine = [new_ulid() for _ in range(2_000)]
    theirs = queue.get(timeout=30)
    child.join(timeout=30)
    assert not set(mine) & set(theirs)


def test_ulid_time_prefix_is_the_creation_millisecond():
    import time

    before = time.time_ns() // 1_000_000
    ulid = new_ulid()
    after = time.time_ns() // 1_000_000
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for ch in ulid:
        value = value * 32 + alphabet.index(ch)
    assert before <= value >> 80 <= after + 1
