"""spec-kitty envelopes go in and come out unchanged; ids and timestamps as spec_kitty_events
reads them (SPEC-KITTY-COMPAT.md §1, CONTRACTS.md §2)."""

from __future__ import annotations

import json

import pytest
import spec_kitty_events
from support.spec_kitty import PROJECT, envelope_210, envelope_325

import eventsync
from eventsync.events import EVENT_KEYS, Event, build_event

SHAPES = {"2.1.0": envelope_210, "3.2.5": envelope_325}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_envelope_field_comes_back_with_its_value(shape):
    envelope = SHAPES[shape]()
    out = json.loads(build_event(envelope).to_json())
    assert {key: out[key] for key in envelope} == envelope
    assert set(out) - set(envelope) <= set(EVENT_KEYS)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_stored_envelope_survives_the_journal(shape, journal):
    envelope = SHAPES[shape]()
    journal.append_event(envelope)
    stored = journal.get(envelope["event_id"])
    assert stored is not None
    assert {key: stored.to_dict()[key] for key in envelope} == envelope
    assert Event.from_json(stored.to_json()) == stored


def test_the_3_2_5_envelope_validates_with_the_real_model_after_the_round_trip(journal):
    envelope = envelope_325()
    journal.append_event(envelope)
    handed_back = json.loads(journal.get(envelope["event_id"]).to_json())
    model = spec_kitty_events.Event(**handed_back)
    assert model.event_id == envelope["event_id"]
    assert model.lamport_clock == envelope["lamport_clock"]
    assert str(model.project_uuid) == PROJECT


def test_the_extra_fields_are_in_extra_not_in_the_event_keys():
    event = build_event(envelope_325())
    assert event.extra["node_id"] == "a1b2c3d4e5f6"
    assert event.extra["lamport_clock"] >= 1
    assert event.extra["causation_id"] is None
    assert not set(event.extra) & set(EVENT_KEYS)


def test_a_rebuilt_event_has_the_same_bytes():
    event = build_event(envelope_325(payload={"z": [1, {"b": None}], "a": "é"}))
    again = build_event(Event.from_json(event.to_json()).to_dict())
    assert again.to_json() == event.to_json()


@pytest.mark.parametrize(("given", "stored"), [
    ("01jdx7q9zk8m3n4p5r0000000a", "01JDX7Q9ZK8M3N4P5R0000000A"),
    ("01JDX7Q9ZK8M3N4P5R0000000A", "01JDX7Q9ZK8M3N4P5R0000000A"),
    ("3F0E8C2A-6B1D-4C5E-9A7F-1D2E3F4A5B6C", "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c"),
    ("3F0E8C2A6B1D4C5E9A7F1D2E3F4A5B6C", "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c"),
])
def test_ids_are_normalised_as_spec_kitty_events_does(given, stored):
    assert build_event({"event_type": "T", "aggregate_id": "A", "event_id": given}).event_id \
        == stored
    assert spec_kitty_events.normalize_event_id(given) == stored


@pytest.mark.parametrize("bad", ["01JDX7Q9ZK8M3N4P5R0000000I", "01JDX7Q9ZK8M3N4P5R0000000L",
                                 "01JDX7Q9ZK8M3N4P5R0000000O", "01JDX7Q9ZK8M3N4P5R0000000U",
                                 "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6", "x" * 32])
def test_ids_spec_kitty_events_refuses_are_refused(bad):
    with pytest.raises(eventsync.InvalidEvent, match="neither a ULID"):
        build_event({"event_type": "T", "aggregate_id": "A", "event_id": bad})
    with pytest.raises(ValueError):
        spec_kitty_events.normalize_event_id(bad)


@pytest.mark.parametrize("timestamp", [
    "2026-11-30T10:00:00Z", "2026-11-30T10:00:00.5Z", "2026-11-30T10:00:00.123456Z",
    "2026-11-30T10:00:00+00:00", "2026-11-30T10:00:00.123456+00:00",
])
def test_utc_timestamps_in_either_spelling_are_kept_as_given(timestamp, journal):
    event = journal.append_event({"event_type": "T", "aggregate_id": "A",
                                  "timestamp": timestamp})
    assert journal.get(event.event_id).timestamp == timestamp
    assert json.loads(event.to_json())["timestamp"] == timestamp


@pytest.mark.parametrize("naive", ["2026-11-30T10:00:00", "2026-11-30T10:00:00.123456"])
def test_a_naive_timestamp_is_refused_with_a_clear_error(naive, journal):
    with pytest.raises(eventsync.InvalidEvent, match="no UTC offset"):
        journal.append_event({"event_type": "T", "aggregate_id": "A", "timestamp": naive})
    assert len(journal) == 0


def test_producer_is_derived_from_team_slug_and_project_uuid():
    event = build_event(envelope_210(team_slug="team-blue"))
    assert event.producer == {"team": "team-blue", "project": PROJECT}
    without_team = build_event(envelope_210(team_slug=None))
    assert without_team.producer == {"project": PROJECT}


def test_a_given_producer_wins_over_the_envelope():
    event = build_event(envelope_210(producer={"team": "red"}))
    assert event.producer == {"team": "red"}


def test_an_event_without_envelope_fields_has_no_producer():
    assert build_event({"event_type": "T", "aggregate_id": "A"}).producer is None


def test_events_list_json_returns_the_whole_envelope(cli):
    envelope = envelope_325()
    res = cli("events", "import", "-", stdin=json.dumps(envelope) + "\n")
    assert res.code == 0, res.err
    res = cli("events", "list", "--json")
    assert res.code == 0, res.err
    listed = json.loads(res.out)
    row = next(item for item in listed if item["event_id"] == envelope["event_id"])
    assert {key: row[key] for key in envelope} == envelope
