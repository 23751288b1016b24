"""The `external` receiver: the URL posted as given, headers from options and environment,
`format=batch` against the real stub server, `format=ndjson` against a recording server, and
the error shapes with `responses`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses
from support.receivers import ledger_rows, one_error

import eventsync
from eventsync.testing import make_target, sample_events
from eventsync_external.receiver import ExternalReceiver

SECRET = "ext_secret_41f0aa"
URL = "https://ingest.example.com/hooks/eventsync?via=es"


def add_target(cli, url: str, *options: str, name: str = "ext") -> None:
    res = cli("sync", "targets", "add", name, "--type", "external", "--url", url, *options,
              "--activate")
    assert res.code == 0, res.err


def append(cli, count: int) -> list[str]:
    return [cli("events", "append", "WPStatusChanged", f"WP{i}").out.strip()
            for i in range(count)]


def external(url: str = URL, **options: str) -> ExternalReceiver:
    return ExternalReceiver(make_target("external", url, options, name="ext"))


# --- happy paths on loopback --------------------------------------------------------------

def test_batch_format_to_the_real_stub_with_a_secret_header(cli, home: Path,
                                                            stub_server) -> None:
    server = stub_server(auth_token=SECRET)
    add_target(cli, f"{server.url}/api/v1/events/batch/",
               "--option", f"header.Authorization=Bearer {SECRET}")
    ids = append(cli, 3)
    res = cli("sync", "now", "--json")
    assert res.code == 0, res.err
    assert res.json()["delivered"] == 3
    assert [e["event_id"] for e in server.events()] == ids
    assert ledger_rows(home, "ext") == {i: ("success", 1, True) for i in ids}
    assert SECRET not in res.out + res.err


def test_header_env_is_read_at_drain_time(cli, home: Path, stub_server, monkeypatch) -> None:
    server = stub_server(auth_token=SECRET)
    add_target(cli, f"{server.url}/api/v1/events/batch/",
               "--option", "header_env.Authorization=EXT_AUTH")
    ids = append(cli, 2)
    monkeypatch.delenv("EXT_AUTH", raising=False)
    refused = cli("sync", "now")
    assert refused.code == 1
    assert "$EXT_AUTH (option header_env.Authorization) is not set" in refused.err
    assert server.app.batch_requests == 0 and ledger_rows(home, "ext") == {}
    monkeypatch.setenv("EXT_AUTH", f"Bearer {SECRET}")
    assert cli("sync", "now").code == 0
    assert [e["event_id"] for e in server.events()] == ids


def test_ndjson_posts_one_event_per_line_and_a_2xx_accepts_them_all(cli, home: Path,
                                                                    recording_server) -> None:
    server = recording_server(status=202)
    add_target(cli, f"{server.url}/ingest", "--option", "format=ndjson",
               "--option", "header.X-Api-Key=" + SECRET)
    ids = append(cli, 3)
    res = cli("sync", "now", "--json")
    assert res.code == 0, res.err
    assert res.json()["delivered"] == 3
    (request,) = server.requests
    assert request.path == "/ingest"
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["X-Api-Key"] == SECRET
    lines = request.body.decode().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == ids
    listed = cli("events", "list", "--json").json()
    assert [json.loads(line) for line in lines] == listed


@pytest.mark.parametrize("status", [500, 503, 429])
def test_ndjson_failures_are_transient(cli, home: Path, recording_server, status: int) -> None:
    server = recording_server(status=status)
    add_target(cli, f"{server.url}/ingest", "--option", "format=ndjson")
    ids = append(cli, 2)
    assert cli("sync", "now").code == 0
    assert ledger_rows(home, "ext") == {i: ("failed_transient", 1, False) for i in ids}


# --- the wire, with `responses` -----------------------------------------------------------

@responses.activate
def test_the_url_is_posted_as_given_with_every_header() -> None:
    events = sample_events(2)
    responses.add(responses.POST, URL, json={"results": [
        {"event_id": events[0].event_id, "status": "success"},
        {"event_id": events[1].event_id, "status": "duplicate"}]})
    receiver = external(**{"header.X-Api-Key": SECRET, "header.X-Team": "t1"})
    receiver.preflight()
    results = receiver.deliver(events)
    assert [r.status for r in results] == ["success", "duplicate"]
    (call,) = responses.calls
    assert call.request.url == URL
    assert (call.request.headers["X-Api-Key"], call.request.headers["X-Team"]) == (SECRET, "t1")
    assert "Content-Encoding" not in call.request.headers
    assert [e["event_id"] for e in json.loads(call.request.body)["events"]] == [
        e.event_id for e in events]


@responses.activate
def test_gzip_is_opt_in() -> None:
    responses.add(responses.POST, URL, status=204)
    external(format="ndjson", gzip="true").deliver(sample_events(40))
    assert responses.calls[0].request.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize(("fmt", "reply", "status"), [
    ("batch", {"status": 503, "headers": {"Retry-After": "3"}}, "failed_transient"),
    ("ndjson", {"status": 429, "headers": {"Retry-After": "3"}}, "failed_transient"),
    ("batch", {"status": 200, "body": "not json"}, "failed_transient"),
    ("ndjson", {"status": 200, "body": "anything"}, "success"),
    ("ndjson", {"body": requests.exceptions.ReadTimeout("slow")}, "failed_transient"),
    ("batch", {"status": 302, "headers": {"Location": "https://elsewhere.test/"}},
     "failed_transient"),
])
@responses.activate
def test_error_shapes_in_both_formats(fmt: str, reply: dict, status: str) -> None:
    responses.add(responses.POST, URL, **reply)
    results = external(format=fmt).deliver(sample_events(3))
    assert {r.status for r in results} == {eventsync.DeliveryStatus(status)}
    if "Retry-After" in reply.get("headers", {}):
        assert {r.retry_after for r in results} == {3.0}


@responses.activate
def test_ndjson_413_splits_down_to_the_event_that_is_too_large() -> None:
    events = sample_events(4)

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        lines = request.body.decode().splitlines()
        too_big = any(events[2].event_id in line for line in lines)
        return (413 if len(lines) > 1 or too_big else 200), {}, ""

    responses.add_callback(responses.POST, URL, callback=answer)
    results = {r.event_id: r.status for r in external(format="ndjson").deliver(events)}
    assert results == {e.event_id: "failed_permanent" if i == 2 else "success"
                       for i, e in enumerate(events)}


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_a_refusal_closes_the_gate_without_naming_the_header_values(status: int) -> None:
    responses.add(responses.POST, URL, status=status, json={"error": f"bad key {SECRET}"})
    receiver = external(**{"header.X-Api-Key": SECRET})
    with pytest.raises(eventsync.ReceiverNotReady, match=r"header\.\* and header_env\.\*") as e:
        receiver.deliver(sample_events(2))  # raised: nothing of the batch is recorded
    with pytest.raises(eventsync.ReceiverNotReady, match=r"header\.\* and header_env\.\*"):
        receiver.preflight()
    assert SECRET not in str(e.value)
    with pytest.raises(eventsync.ReceiverNotReady):
        receiver.deliver(sample_events(1))
    assert len(responses.calls) == 1


# --- options are checked when the target is added -----------------------------------------

@pytest.mark.parametrize(("url", "options", "message"), [
    ("http://ingest.example.com/x", (), "plain http would send events and headers"),
    ("mailto:ops@example.com", (), "must start with https://"),
    (URL, ("--option", "format=xml"), "format='xml' must be one of batch, ndjson"),
    (URL, ("--option", f"header.Bad Name={SECRET}"), "is not an HTTP header name"),
    (URL, ("--option", f"header.Content-Length={SECRET}"), "eventsync sets Content-Length"),
    (URL, ("--option", "header_env.X-Key=no way"), "not an environment variable name"),
    (URL, ("--option", f"header.X-Key={SECRET}", "--option", "header_env.x-key=K"),
     "given by both"),
    (URL, ("--option", "fromat=ndjson"), "unknown option 'fromat'"),
    (URL, ("--option", "gzip=sometimes"), "must be true or false"),
])
def test_targets_add_refuses_bad_urls_and_options(cli, home: Path, url: str,
                                                  options: tuple[str, ...],
                                                  message: str) -> None:
    res = cli("sync", "targets", "add", "ext", "--type", "external", "--url", url, *options)
    assert res.code == 1
    assert message in one_error(res.err)
    assert SECRET not in res.err
    assert cli("sync", "targets", "list", "--json").json() == []


def test_a_header_value_with_a_line_break_is_refused_without_echoing_it() -> None:
    target = make_target("external", URL, {"header.X-Key": f"{SECRET}\r\nX-Evil: 1"})
    with pytest.raises(eventsync.TargetError, match="line break") as caught:
        ExternalReceiver.check_target(target)
    assert SECRET not in str(caught.value)
    with pytest.raises(eventsync.ReceiverNotReady, match="line break"):
        ExternalReceiver(target).preflight()


@pytest.mark.parametrize(("url", "options"), [
    ("http://127.0.0.1:9000/ingest", ()),
    ("http://localhost/ingest", ("--option", "format=ndjson")),
    ("http://ingest.lan/x", ("--option", "allow_insecure=true")),
    (URL, ("--option", "header.X-Api-Key=k", "--option", "header_env.Authorization=AUTH",
           "--option", "team=t1", "--option", "timeout=5")),
])
def test_targets_add_accepts_good_ones_and_lists_header_values_masked(
        cli, home: Path, url: str, options: tuple[str, ...]) -> None:
    res = cli("sync", "targets", "add", "ext", "--type", "external", "--url", url, *options)
    assert res.code == 0, res.err
    (listed,) = cli("sync", "targets", "list", "--json").json()
    assert all(value == "***" for key, value in listed["options"].items()
               if key.startswith("header."))
