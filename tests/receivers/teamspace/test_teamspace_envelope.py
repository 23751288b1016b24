"""The envelope check on the journal's stored JSON (what a drain runs) gives exactly the verdicts
of the check on decoded events, for envelopes built to fool a text search: required keys only in
the payload, blank or escaped values, clocks that are not integers, containers before the head
keys, braces in strings, retired keys at every depth."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsync.events import build_event
from eventsync_teamspace.envelope import REQUIRED, refusal, stored_refusals

GOOD = {"build_id": "build-7", "correlation_id": "01JDX7Q9ZK8M3N4P5R00000001",
        "lamport_clock": 3, "node_id": "a1b2c3d4e5f6",
        "project_uuid": "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c"}


def envelope(payload: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    data = {"event_type": "WPStatusChanged", "aggregate_id": "WP01",
            "payload": payload if payload is not None else {"wp_id": "WP01"}, **GOOD, **fields}
    return {k: v for k, v in data.items() if v is not _DROP}


_DROP = object()


def verdicts(datas: list[dict[str, Any]]) -> tuple[dict[int, str], dict[int, str]]:
    """(stored verdicts, decoded verdicts), by index."""
    events = [build_event(d) for d in datas]
    decoded = {i: r for i, e in enumerate(events) if (r := refusal(e)) is not None}
    return stored_refusals([e.to_json() for e in events]), decoded


@pytest.mark.parametrize("data", [
    envelope(),
    envelope(build_id=_DROP, payload={"a": 1, "build_id": "in-the-payload"}),
    envelope(lamport_clock=_DROP, payload={"a": 1, "lamport_clock": 4}),
    envelope(project_uuid=_DROP, payload={"a": 1, "project_uuid": GOOD["project_uuid"]}),
    envelope(project_uuid=_DROP, zz={"a": 1, "project_uuid": GOOD["project_uuid"]}),
    envelope(project_uuid=_DROP, zz=[{"a": 1, "project_uuid": GOOD["project_uuid"]}]),
    envelope(node_id=_DROP, a_meta={"a": 1, "node_id": "nested"}),
    envelope(node_id=_DROP, a_meta=["x", {"a": 1, "node_id": "nested"}]),
    envelope(node_id=" "), envelope(node_id="\t"), envelope(node_id=""),
    envelope(node_id="\u3000x"), envelope(node_id="\\x"), envelope(node_id='"'),
    envelope(build_id=7), envelope(build_id=None), envelope(build_id=["b"]),
    envelope(lamport_clock=-1), envelope(lamport_clock=1.5), envelope(lamport_clock=True),
    envelope(lamport_clock="3"), envelope(lamport_clock=0), envelope(lamport_clock=10**20),
    envelope(aggregate_id="WP{01}"), envelope(git_branch="feat/[x]"),
    envelope(team_slug="a}b"), envelope(project_uuid="x}"),
    envelope(feature_slug="old"), envelope(payload={"work_package_id": "WP01"}),
    envelope(payload={"deep": {"mission_key": "fine at depth 2"}}),
    envelope(note='he said ,"build_id":"x" once'),
])
def test_stored_verdicts_are_the_decoded_ones(data):
    stored, decoded = verdicts([data])
    assert stored == decoded


def test_a_mixed_batch_names_exactly_its_refused_events():
    datas = [envelope(), envelope(build_id=_DROP), envelope(), envelope(payload={
        "feature_number": 3}), envelope()]
    stored, decoded = verdicts(datas)
    assert stored == decoded and sorted(stored) == [1, 3]
    assert "missing build_id" in stored[1] and "feature_number" in stored[3]


_text = st.one_of(st.sampled_from(list(GOOD.values())),
                  st.text(st.sampled_from(' x\t\\"{}[],:\u3000\u00a0'), max_size=4))
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(-2, 2), _text)
_nested = st.dictionaries(st.sampled_from([*REQUIRED, "a", "feature_slug", "mission_key"]),
                          _scalar, max_size=4)
_value = st.one_of(_scalar, st.lists(st.one_of(_text, _nested), max_size=2), _nested)
_names = st.sampled_from([*REQUIRED, "a_meta", "git_branch", "mission_key", "node", "zz"])


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(_names, _value, max_size=5),
       drop=st.sets(st.sampled_from(REQUIRED), max_size=2),
       payload=st.dictionaries(_names, _value, max_size=3))
def test_any_envelope_gets_the_same_verdict_from_its_stored_json(fields, drop, payload):
    data = envelope(payload, **fields)
    for name in drop:
        data.pop(name, None)
    stored, decoded = verdicts([data, envelope()])
    assert stored == decoded
