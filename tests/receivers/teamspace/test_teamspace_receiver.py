"""The `teamspace` receiver: happy paths against a real stub server on loopback, every error
shape of the batch contract with `responses`, and each gate on its own."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest
import requests
import responses
from support.receivers import SAAS_ENV, ledger_rows, one_error

import eventsync
from eventsync.testing import make_target, sample_events
from eventsync_teamspace.receiver import TeamspaceReceiver

TOKEN = "ts_secret_7c1d9e"
URL = "https://teamspace.example.com"
BATCH = f"{URL}/api/v1/events/batch/"
HEALTH = f"{URL}/api/v1/sync/health/"
OPEN = ("--option", "team=t1", "--option", "enabled=true")


def add_target(cli, url: str, *options: str, name: str = "ts") -> None:
    res = cli("sync", "targets", "add", name, "--type", "teamspace", "--url", url, *options,
              "--activate")
    assert res.code == 0, res.err


def append(cli, count: int) -> list[str]:
    return [cli("events", "append", "WPStatusChanged", f"WP{i}").out.strip()
            for i in range(count)]


def status_of(cli, name: str = "ts") -> dict:
    return next(t for t in cli("sync", "status", "--json").json()["targets"]
                if t["name"] == name)


def ok_results(request: requests.PreparedRequest) -> tuple[int, dict, str]:
    body = request.body
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    events = json.loads(body)["events"]
    return 200, {}, json.dumps({"results": [{"event_id": e["event_id"], "status": "success"}
                                            for e in events]})


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch):
    """A TeamspaceReceiver on URL with every gate open (token from $TS_TOKEN)."""
    monkeypatch.setenv("TS_TOKEN", TOKEN)
    made = []

    def make(url: str = URL, **options: str) -> TeamspaceReceiver:
        opts = {"team": "t1", "enabled": "true", "token_env": "TS_TOKEN", **options}
        made.append(TeamspaceReceiver(make_target("teamspace", url, opts, name="ts")))
        return made[-1]

    yield make
    for instance in made:
        instance.close()


# --- happy paths against the real stub server ---------------------------------------------

def test_drains_to_a_real_server_with_the_stored_token(cli, home: Path, stub_server) -> None:
    server = stub_server(auth_token=TOKEN)
    add_target(cli, server.url, *OPEN)
    assert cli("auth", "set-token", "ts", stdin=TOKEN).code == 0
    ids = append(cli, 3)
    res = cli("sync", "now", "--json")
    assert res.code == 0, res.err
    assert res.json() == {"target": "ts", "attempted": 3, "delivered": 3, "duplicate": 0,
                          "retrying": 0, "terminal_failed": 0, "remaining": 0, "stopped": None,
                          "last_error": None}
    assert [e["event_id"] for e in server.events()] == ids
    assert ledger_rows(home, "ts") == {i: ("success", 1, True) for i in ids}


def test_token_env_and_the_saas_variable_open_the_gates_too(cli, home: Path, stub_server,
                                                            monkeypatch) -> None:
    server = stub_server(auth_token=TOKEN)
    add_target(cli, server.url, "--option", "team=t1", "--option", "token_env=TS_TOKEN")
    monkeypatch.setenv("TS_TOKEN", TOKEN)
    monkeypatch.setenv(SAAS_ENV, "1")
    ids = append(cli, 2)
    assert cli("sync", "now").code == 0
    assert [e["event_id"] for e in server.events()] == ids


def test_large_batches_are_gzipped_and_the_server_accepts_them(cli, home: Path, stub_server,
                                                               monkeypatch) -> None:
    server = stub_server(auth_token=TOKEN)
    add_target(cli, server.url, *OPEN, "--option", "token_env=TS_TOKEN")
    monkeypatch.setenv("TS_TOKEN", TOKEN)
    ids = [cli("events", "append", "Big", f"B{i}", "--payload",
               json.dumps({"text": "x" * 3000})).out.strip() for i in range(4)]
    assert cli("sync", "now").code == 0
    assert [e["event_id"] for e in server.events()] == ids


def test_deployment_facts_are_recorded_and_a_changed_instance_is_an_advisory(
        cli, home: Path, stub_server, monkeypatch) -> None:
    monkeypatch.setenv("TS_TOKEN", TOKEN)
    first = stub_server(instance_id="instance-one", deployment_id="dep-7", git_sha="abc123")
    add_target(cli, first.url, *OPEN, "--option", "token_env=TS_TOKEN")
    append(cli, 2)
    assert cli("sync", "now").code == 0
    status = status_of(cli)
    assert status["deployment"] == {"server_instance_id": "instance-one",
                                    "deployment_id": "dep-7", "environment_name": "local",
                                    "git_sha": "abc123"}
    assert status["advisory"] is None
    port = first.port
    first.stop()
    second = stub_server(port=port, instance_id="instance-two", deployment_id="dep-7")
    assert cli("sync", "now").code == 0
    status = status_of(cli)
    assert status["deployment"]["server_instance_id"] == "instance-two"
    assert "target may have been reset" in status["advisory"]
    assert "eventsync sync retry --target ts --all" in status["advisory"]
    assert status["delivered"] == 2 and second.events() == []  # never re-sent by itself
    assert "target may have been reset" in cli("sync", "status").out
    assert cli("sync", "retry", "--target", "ts", "--all").code == 0
    assert cli("sync", "now").code == 0
    assert len(second.events()) == 2
    assert status_of(cli)["advisory"] is None


# --- each gate on its own: nothing posted, nothing recorded, everything stays due ---------

GATES = {
    "saas-off": (("--option", "team=t1", "--option", "token_env=TS_TOKEN"), True,
                 f"SaaS sync is off: set {SAAS_ENV}=1"),
    "no-token": (OPEN, False, "no token: run `eventsync auth set-token ts`"),
    "token-env-unset": ((*OPEN, "--option", "token_env=TS_UNSET"), False,
                        "no token: $TS_UNSET (option token_env) is not set"),
    "no-team": (("--option", "enabled=true", "--option", "token_env=TS_TOKEN"), True,
                "no team scope: add target ts with --option team=TEAM"),
}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_a_closed_gate_posts_nothing_and_leaves_events_due(cli, home: Path, monkeypatch,
                                                           gate: str) -> None:
    options, token_set, reason = GATES[gate]
    monkeypatch.delenv("TS_UNSET", raising=False)
    if token_set:
        monkeypatch.setenv("TS_TOKEN", TOKEN)
    add_target(cli, URL, *options)
    append(cli, 3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        res = cli("sync", "now", "--json")
        assert res.code == 1
        assert f"target ts is not ready: {reason}" in one_error(res.err)
        assert res.out == ""
        checked = cli("sync", "status", "--check", "--json")
        assert len(mock.calls) == 0
    assert checked.code == 1
    assert any(reason in p["message"] for p in checked.json()["authority"]["problems"])
    assert ledger_rows(home, "ts") == {}
    counts = status_of(cli)
    assert (counts["pending"], counts["delivered"], counts["retrying"]) == (3, 0, 0)


def test_every_gate_open_is_not_a_problem(cli, home: Path, monkeypatch) -> None:
    monkeypatch.setenv("TS_TOKEN", TOKEN)
    add_target(cli, URL, *OPEN, "--option", "token_env=TS_TOKEN")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        checked = cli("sync", "status", "--check", "--json")
        assert len(mock.calls) == 0  # status never contacts the server
    assert checked.code == 0, checked.json()["authority"]


def test_a_private_teamspace_stops_the_drain_after_one_request(cli, home: Path, stub_server,
                                                               monkeypatch) -> None:
    server = stub_server(private_teamspace=True)
    monkeypatch.setenv("TS_TOKEN", TOKEN)
    add_target(cli, server.url, *OPEN, "--option", "token_env=TS_TOKEN")
    ids = append(cli, 5)
    res = cli("sync", "now", "--batch-size", "2")
    assert res.code == 1
    assert "the teamspace of team t1 is private (HTTP 403 private_teamspace)" in res.err
    assert server.app.batch_requests == 1 and server.events() == []
    assert ledger_rows(home, "ts") == {i: ("failed_transient", 1, False) for i in ids[:2]}


def test_a_refused_token_stops_the_drain_with_the_fix(cli, home: Path, stub_server) -> None:
    server = stub_server(auth_token="the-right-one")
    add_target(cli, server.url, *OPEN)
    cli("auth", "set-token", "ts", stdin=TOKEN)
    append(cli, 4)
    res = cli("sync", "now", "--batch-size", "2")
    assert res.code == 1
    assert "refused the token (HTTP 401)" in res.err and "auth set-token ts" in res.err
    assert TOKEN not in res.out + res.err
    assert server.app.batch_requests == 1
    assert {row[0] for row in ledger_rows(home, "ts").values()} == {"failed_transient"}


# --- error shapes of the batch contract, with `responses` ---------------------------------

@responses.activate
def test_posts_bearer_json_to_the_batch_path_and_gzips_only_above_4_kib(receiver) -> None:
    responses.add_callback(responses.POST, BATCH, callback=ok_results)
    small, large = sample_events(2), sample_events(30)
    ts = receiver(URL + "/")
    ts.preflight()
    assert {r.status for r in ts.deliver(small)} == {eventsync.DeliveryStatus.SUCCESS}
    assert {r.status for r in ts.deliver(large)} == {eventsync.DeliveryStatus.SUCCESS}
    first, second = (call.request for call in responses.calls)
    assert first.url == BATCH and first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Content-Encoding" not in first.headers and len(first.body) <= 4096
    assert second.headers["Content-Encoding"] == "gzip"
    assert [e["event_id"] for e in json.loads(gzip.decompress(second.body))["events"]] == [
        e.event_id for e in large]


@pytest.mark.parametrize(("reply", "status", "detail"), [
    ({"status": 429, "headers": {"Retry-After": "7"}}, "failed_transient", "HTTP 429"),
    ({"status": 503}, "failed_transient", "HTTP 503"),
    ({"status": 500, "body": "oops"}, "failed_transient", "HTTP 500"),
    ({"status": 200, "body": "<html>not json</html>"}, "failed_transient", "not JSON"),
    ({"status": 200, "json": {"ok": True}}, "failed_transient", '"results"'),
    ({"status": 200, "json": {"results": [{"event_id": "x", "status": "success"}]}},
     "failed_transient", "no result for this event"),
    ({"body": requests.exceptions.ReadTimeout("slow")}, "failed_transient", "read timeout"),
    ({"body": requests.exceptions.ConnectTimeout("slow")}, "failed_transient",
     "connect timeout"),
])
@responses.activate
def test_error_answers_map_to_per_event_results(receiver, reply: dict, status: str,
                                                detail: str) -> None:
    responses.add(responses.POST, BATCH, **reply)
    events = sample_events(3)
    results = receiver().deliver(events)
    assert [r.event_id for r in results] == [e.event_id for e in events]
    assert {r.status for r in results} == {eventsync.DeliveryStatus(status)}
    assert all(detail in r.detail for r in results)
    if reply.get("status") == 429:
        assert {r.retry_after for r in results} == {7.0}


@responses.activate
def test_413_splits_the_batch_down_to_single_events(receiver) -> None:
    too_big = sample_events(1, event_type="TooBig")[0]

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        events = json.loads(request.body)["events"]
        if len(events) > 1 or events[0]["event_id"] == too_big.event_id:
            return 413, {}, "{}"
        return ok_results(request)

    responses.add_callback(responses.POST, BATCH, callback=answer)
    events = [*sample_events(3), too_big]
    results = {r.event_id: r.status for r in receiver().deliver(events)}
    assert results == {e.event_id: ("failed_permanent" if e is too_big else "success")
                       for e in events}
    assert len(responses.calls) == 7  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1


@pytest.mark.parametrize(("status", "body", "reason"), [
    (401, {"code": "unauthorized"}, "refused the token (HTTP 401): update $TS_TOKEN"),
    (403, {"code": "private_teamspace"}, "team t1 is private"),
    (403, {"code": "no_such_team"}, "HTTP 403, code no_such_team): check the team option"),
])
@responses.activate
def test_a_refusal_closes_the_gate_until_the_next_receiver(receiver, status: int, body: dict,
                                                           reason: str) -> None:
    responses.add(responses.POST, BATCH, status=status, json=body)
    ts = receiver()
    ts.preflight()
    results = ts.deliver(sample_events(2))
    assert {r.status for r in results} == {eventsync.DeliveryStatus.FAILED_TRANSIENT}
    with pytest.raises(eventsync.ReceiverNotReady, match=reason.replace("$", r"\$")
                       .replace("(", r"\(").replace(")", r"\)")):
        ts.preflight()
    with pytest.raises(eventsync.ReceiverNotReady):
        ts.deliver(sample_events(2))
    assert len(responses.calls) == 1  # nothing posted after the refusal
    assert TOKEN not in " ".join(r.detail for r in results)


def test_connection_refused_is_transient(receiver) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = receiver(f"http://127.0.0.1:{port}").deliver(sample_events(2))
    assert {r.status for r in results} == {eventsync.DeliveryStatus.FAILED_TRANSIENT}
    assert {r.detail for r in results} == {"connection failed: connection refused"}


@responses.activate
def test_health_answers_become_deployment_facts_and_absence_is_fine(receiver) -> None:
    responses.add(responses.GET, HEALTH, json={"server_instance_id": "i-1", "git_sha": None,
                                               "deployment_id": 7, "extra": "x"})
    assert receiver().describe() == {"server_instance_id": "i-1", "git_sha": None}
    responses.replace(responses.GET, HEALTH, status=404)
    assert receiver().describe() == {}


@responses.activate
def test_a_url_with_a_path_prefix_keeps_it_for_both_endpoints(receiver) -> None:
    base = f"{URL}/teamspace/eu"
    responses.add(responses.GET, f"{base}/api/v1/sync/health/", json={"git_sha": "f00"})
    responses.add_callback(responses.POST, f"{base}/api/v1/events/batch/", callback=ok_results)
    ts = receiver(base + "/")
    assert ts.describe() == {"git_sha": "f00"}
    assert {r.status for r in ts.deliver(sample_events(2))} == {"success"}


@responses.activate
def test_describe_makes_no_request_while_a_gate_is_closed(receiver) -> None:
    assert receiver(enabled="false").describe() == {}
    assert len(responses.calls) == 0


@responses.activate
def test_a_server_echoing_the_token_has_it_masked(receiver) -> None:
    responses.add(responses.POST, BATCH, status=500,
                  json={"error": f"bad token {TOKEN}"})
    responses.add(responses.POST, BATCH, status=200,
                  json={"results": [{"event_id": e.event_id, "status": "rejected",
                                     "error": f"Bearer {TOKEN} not allowed"}
                                    for e in sample_events(1)]})
    ts = receiver()
    details = [r.detail for r in ts.deliver(sample_events(1))]
    details += [r.detail for r in ts.deliver(sample_events(1))]
    assert details and not any(TOKEN in d for d in details)


# --- options are checked when the target is added -----------------------------------------

@pytest.mark.parametrize(("url", "options", "message"), [
    ("http://teamspace.example.com", (), "plain http would send the token unencrypted"),
    ("ftp://teamspace.example.com", (), "must start with https://"),
    (URL, ("--option", f"token={TOKEN}"), "never put a token in an option"),
    (URL, ("--option", "enable=true"), "unknown option 'enable'"),
    (URL, ("--option", "enabled=maybe"), "must be true or false"),
    (URL, ("--option", "token_env=not a name"), "not an environment variable name"),
    (URL, ("--option", "timeout=0"), "between 0 and 3600"),
])
def test_targets_add_refuses_bad_urls_and_options(cli, home: Path, url: str,
                                                  options: tuple[str, ...],
                                                  message: str) -> None:
    res = cli("sync", "targets", "add", "ts", "--type", "teamspace", "--url", url, *options)
    assert res.code == 1
    assert message in one_error(res.err)
    assert TOKEN not in res.err
    assert cli("sync", "targets", "list", "--json").json() == []


@pytest.mark.parametrize(("url", "options"), [
    ("http://127.0.0.1:8080", ()),
    ("http://localhost:8080", ()),
    ("http://[::1]:8080", ()),
    ("http://teamspace.lan", ("--option", "allow_insecure=true")),
    ("https://teamspace.example.com/base/", ("--option", "team=t1")),
])
def test_targets_add_accepts_https_loopback_and_explicit_insecure(cli, home: Path, url: str,
                                                                  options: tuple[str, ...]
                                                                  ) -> None:
    res = cli("sync", "targets", "add", "ts", "--type", "teamspace", "--url", url, *options)
    assert res.code == 0, res.err
