"""The nats receiver against a real JetStream server: what lands in the stream, and each outcome."""

from __future__ import annotations

import json
from collections import Counter

from nats_helpers import STREAM, add_target, import_events

import eventsync
from eventsync.testing import make_target, sample_events
from eventsync_nats.receiver import NatsReceiver


def test_ten_thousand_events_land_once_each_with_id_header_and_canonical_body(
        cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream()
    add_target(cli, server)
    import_events(cli, tmp_path, 10_000)

    result = cli("sync", "now", "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert (report["attempted"], report["delivered"]) == (10_000, 10_000)
    stored = server.messages()
    assert len(stored) == 10_000
    ids = Counter(m.msg_id for m in stored)
    assert len(ids) == 10_000 and set(ids.values()) == {1}
    listed = {e["event_id"]: e for e in cli("events", "list", "--limit", "10000",
                                            "--json").json()}
    assert set(ids) == set(listed)
    first = stored[0]
    assert first.subject == "events.WPStatusChanged"
    assert json.loads(first.body) == listed[first.msg_id]
    assert first.body == json.dumps(listed[first.msg_id], sort_keys=True,
                                    separators=(",", ":")).encode()
    again = cli("sync", "now", "--json").json()
    assert again["attempted"] == 0 and server.count() == 10_000


def test_an_event_the_stream_already_has_is_answered_duplicate(nats_server, home):
    server = nats_server()
    server.add_stream()
    events = sample_events(5)
    receiver = NatsReceiver(make_target("nats", server.url, {"stream": STREAM}))
    try:
        receiver.preflight()
        first = receiver.deliver(events)
        second = receiver.deliver(events)
    finally:
        receiver.close()
    assert {r.status for r in first} == {eventsync.DeliveryStatus.SUCCESS}
    assert {r.status for r in second} == {eventsync.DeliveryStatus.DUPLICATE}
    assert [r.event_id for r in second] == [e.event_id for e in events]
    assert server.count() == 5


def test_a_recreated_stream_is_flagged_in_status_as_a_possible_reset(cli, nats_server,
                                                                      tmp_path):
    server = nats_server()
    server.add_stream()
    add_target(cli, server)
    import_events(cli, tmp_path, 3)
    assert cli("sync", "now").code == 0
    first = cli("sync", "status", "--json").json()["targets"][0]
    assert first["deployment"]["server_instance_id"].startswith(f"{STREAM}@")
    assert first["advisory"] is None

    server.run(lambda js: js.delete_stream(STREAM))
    server.add_stream()
    import_events(cli, tmp_path, 2, prefix="later")
    assert cli("sync", "now").code == 0

    advisory = cli("sync", "status", "--json").json()["targets"][0]["advisory"]
    assert "target may have been reset" in advisory
    assert "sync retry --target js --all" in advisory
    assert server.count() == 2
