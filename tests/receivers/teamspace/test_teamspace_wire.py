"""What a Teamspace drain puts on the wire, read back from the stub in Teamspace mode: the
Private Teamspace from /api/v1/me, the headers of every POST and health GET, gzip, envelopes
verbatim (and valid for spec_kitty_events.Event), the advertised limits; and what the user sees."""

from __future__ import annotations

import gzip
import json

import pytest
import requests
import responses
from support.receivers import ledger_rows, one_error
from teamspace_helpers import ACCESS, TEAM, gets, posted, status_of, sync_json

import eventsync
from eventsync.events import build_event
from eventsync.testing import make_target
from eventsync_teamspace.receiver import TeamspaceReceiver, limits_of

pytestmark = pytest.mark.usefixtures("saas")


def test_a_drain_sends_spec_kittys_headers_and_the_envelopes_verbatim(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace()
    ts_target(server.url)
    envelopes = put_envelopes(3)
    code, report, err = sync_json(cli)
    assert code == 0, err
    assert (report["attempted"], report["delivered"], report["remaining"]) == (3, 3, 0)
    [batch] = posted(server)
    headers = batch["headers"]
    assert headers["X-Team-Slug"] == TEAM  # the Private Teamspace, not teams[0]
    assert headers["X-Spec-Kitty-Sync-Protocol"] == "2.0"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"].startswith("Bearer ")
    assert batch["events"] == 3 and batch["body_bytes"] < batch["decoded_bytes"]
    [probe] = gets(server, "/api/v1/sync/health/")  # probed on localhost too
    assert probe["headers"]["X-Team-Slug"] == TEAM
    assert probe["headers"]["Authorization"] == headers["Authorization"]
    received = {e["event_id"]: e for e in server.events()}
    for envelope in envelopes:  # every field the producer gave, with its value
        got = received[envelope["event_id"]]
        assert {k: got[k] for k in envelope} == envelope
    assert ledger_rows(home, "ts") == {e["event_id"]: ("success", 1, True) for e in envelopes}
    assert ACCESS not in cli("sync", "status", "--json").out


def test_what_is_posted_validates_with_spec_kitty_events(cli, teamspace, ts_target,
                                                         put_envelopes):
    spec_kitty_events = pytest.importorskip("spec_kitty_events")
    server = teamspace()
    ts_target(server.url)
    put_envelopes(4)
    assert sync_json(cli)[0] == 0
    for event in server.events():
        spec_kitty_events.Event(**event)  # raises on a missing or malformed field


@pytest.mark.parametrize(("advertised", "events", "bytes_"), [
    ({"max_events_per_batch": 4, "max_decompressed_bytes": 1_000_000}, 4, 524_288),
    ({"max_events_per_batch": 5000, "max_decompressed_bytes": 6_000}, 1000, 5_400),
])
def test_batches_stay_within_the_advertised_limits(cli, teamspace, ts_target, put_envelopes,
                                                   advertised, events, bytes_):
    server = teamspace(**advertised)
    ts_target(server.url)
    put_envelopes(30, payload={"note": "x" * 300})
    code, report, err = sync_json(cli, "--batch-size", "1000")
    assert code == 0, err
    assert report["delivered"] == 30
    sizes = [(r["events"], r["decoded_bytes"]) for r in posted(server)]
    assert all(n <= events and size <= bytes_ for n, size in sizes), sizes
    assert sum(n for n, _ in sizes) == 30


BASE = "https://teamspace.example.com"


@pytest.mark.parametrize("probe", [
    {"status": 500}, {"status": 401, "json": {"code": "unauthorized"}},
    {"status": 403, "json": {"error": "forbidden"}}, {"body": "<html>"},
    {"json": {"sync_ingress": {"limits": {"max_events_per_batch": "lots",
                                          "max_decompressed_bytes_per_batch": -5}}}},
    {"body": requests.exceptions.ReadTimeout("slow")},
])
def test_a_failing_probe_falls_back_to_the_defaults_and_never_blocks(monkeypatch, probe):
    """A health probe that fails in any way (a shape the stub cannot produce): posting goes on
    within the defaults, 1000 events and 0.9 x 262,144 uncompressed bytes."""
    monkeypatch.setenv("TS_TOKEN", ACCESS)
    target = make_target("teamspace", BASE, {"token_env": "TS_TOKEN"}, name="ts")
    events = [build_event({"event_type": "WPStatusChanged", "aggregate_id": f"WP{i}",
                           "payload": {"text": "x" * 2000}, **envelope_fields(i)})
              for i in range(300)]
    sizes = []

    def answer(request):
        body = json.loads(gzip.decompress(request.body))
        sizes.append(len(gzip.decompress(request.body)))
        return 200, {}, json.dumps({"results": [{"event_id": e["event_id"], "status": "accepted"}
                                                for e in body["events"]]})

    with responses.RequestsMock() as mock:
        mock.get(BASE + "/api/v1/me", json={"teams": [{"id": "t-9", "is_private_teamspace": True}]})
        mock.add(responses.GET, BASE + "/api/v1/sync/health/", **probe)
        mock.add_callback(responses.POST, BASE + "/api/v1/events/batch/", callback=answer)
        receiver = TeamspaceReceiver(target)
        receiver.preflight()
        results = receiver.deliver(events)
        receiver.close()
    assert {r.status for r in results} == {eventsync.DeliveryStatus.SUCCESS}
    assert len(sizes) > 2 and max(sizes) <= int(262_144 * 0.9)


def envelope_fields(i: int) -> dict:
    return {"node_id": "node-1", "build_id": "build-1", "lamport_clock": i,
            "project_uuid": "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c",
            "correlation_id": "01JDX7Q9ZK8M3N4P5R00000001", "schema_version": "3.0.0"}


@pytest.mark.parametrize(("limits", "expected"), [
    ({}, (1000, 235_929)),
    ({"max_events_per_batch": 50, "max_decompressed_bytes_per_batch": 100_000}, (50, 90_000)),
    ({"max_events_per_batch": 5000, "max_decompressed_bytes_per_batch": 10_000_000},
     (1000, 524_288)),
    ({"max_events_per_batch": True, "max_decompressed_bytes_per_batch": 0}, (1000, 235_929)),
])
def test_limits_rule(limits, expected):
    assert limits_of({"sync_ingress": {"limits": limits}}) == expected


def test_without_a_private_teamspace_nothing_is_posted(cli, home, teamspace, ts_target,
                                                       put_envelopes):
    server = teamspace(private_team=None)
    ts_target(server.url)
    envelopes = put_envelopes(2)
    code, _, err = sync_json(cli)
    assert code == 1
    line = one_error(err)
    assert "target ts is not ready: no Private Teamspace" in line
    assert "direct_ingress_missing_private_team" in line
    assert len(gets(server, "/api/v1/me")) == 2  # asked once more, as spec-kitty does
    assert posted(server) == [] and ledger_rows(home, "ts") == {}
    counts = status_of(cli)
    assert (counts["pending"], counts["delivered"]) == (len(envelopes), 0)


def test_a_403_missing_private_team_is_not_ready_and_records_nothing(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace(missing_private_team=True)
    ts_target(server.url)
    put_envelopes(3)
    code, _, err = sync_json(cli)
    assert code == 1
    assert "HTTP 403 direct_ingress_missing_private_team" in one_error(err)
    assert len(posted(server)) == 1 and ledger_rows(home, "ts") == {}


def test_an_event_the_server_cannot_take_is_failed_permanent_and_never_posted(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace()
    ts_target(server.url)
    good = put_envelopes(1)
    plain = cli("events", "append", "WPStatusChanged", "WP01").out.strip()
    code, report, err = sync_json(cli)
    assert code == 0, err
    assert (report["delivered"], report["terminal_failed"]) == (1, 1)
    assert [e["event_id"] for e in server.events()] == [good[0]["event_id"]]
    inspect = cli("sync", "inspect", plain, "--json")
    assert "missing build_id, correlation_id, lamport_clock, node_id, project_uuid" in \
        inspect.out
