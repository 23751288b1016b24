"""`stub serve --teamspace`: the stub answers as the Teamspace server does, over a real socket:
`/api/v1/me`, `/oauth/token` with rotation, advertised and enforced limits, the token, protocol
and team checks, scripted words and 400s; and it records what each request carried."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess

import pytest
import requests
from support.events import make_events

from eventsync_stub.teamspace import DEFAULT_TEAM, TeamspaceMode

BATCH = "/api/v1/events/batch/"
ACCESS, REFRESH = "acc-6b1f0e2d", "ref-93ac51d7"
GOOD = {"Authorization": f"Bearer {ACCESS}", "X-Spec-Kitty-Sync-Protocol": "2.0",
        "X-Team-Slug": DEFAULT_TEAM}


@pytest.fixture
def teamspace(stub_server):
    def start(**mode) -> object:
        return stub_server(teamspace=TeamspaceMode(access_token=ACCESS, refresh_token=REFRESH,
                                                   **mode))
    return start


def post(server, events, headers=GOOD, gzipped=True) -> requests.Response:
    body = ('{"events":[' + ",".join(e.to_json() for e in events) + "]}").encode()
    sent = dict(headers)
    if gzipped:
        body, sent["Content-Encoding"] = gzip.compress(body), "gzip"
    return requests.post(server.url + BATCH, data=body, headers=sent, timeout=10)


def refresh(server, token: str, client_id: str = "cli_native") -> requests.Response:
    return requests.post(server.url + "/oauth/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": token, "client_id": client_id})


def test_me_lists_the_private_teamspace_second_and_needs_a_token(teamspace):
    server = teamspace()
    assert requests.get(server.url + "/api/v1/me", timeout=10).status_code == 401
    me = requests.get(server.url + "/api/v1/me", headers=GOOD, timeout=10).json()
    assert [t["is_private_teamspace"] for t in me["teams"]] == [False, True]
    assert me["teams"][1]["id"] == DEFAULT_TEAM
    none = teamspace(private_team=None)
    teams = requests.get(none.url + "/api/v1/me", headers=GOOD, timeout=10).json()["teams"]
    assert not any(t["is_private_teamspace"] for t in teams)


def test_refresh_rotates_and_a_spent_refresh_token_is_invalid_grant(teamspace):
    server = teamspace(token_ttl=120)
    first = refresh(server, REFRESH).json()
    assert first["expires_in"] == 120 and first["refresh_token"] != REFRESH
    again = refresh(server, REFRESH)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert refresh(server, first["refresh_token"]).status_code == 200
    assert refresh(server, first["refresh_token"] + "x").json()["error"] == "invalid_grant"
    assert refresh(server, "whatever", client_id="other").json()["error"] == "invalid_client"
    issued = {"Authorization": f"Bearer {first['access_token']}"}
    assert requests.get(server.url + "/api/v1/me", headers=issued, timeout=10).ok
    assert server.app.teamspace.token_requests == 5


@pytest.mark.parametrize(("change", "status", "word"), [
    ({"Authorization": "Bearer nope"}, 401, "invalid_token"),
    ({"X-Spec-Kitty-Sync-Protocol": "1.0"}, 412, "client-too-old"),
    ({"X-Spec-Kitty-Sync-Protocol": "9.1"}, 412, "client-too-new"),
    ({"X-Spec-Kitty-Sync-Protocol": None}, 412, "client-protocol-unparseable"),
    ({"X-Team-Slug": "team-shared-01"}, 403, "direct_ingress_missing_private_team"),
    ({"X-Team-Slug": None}, 403, "direct_ingress_missing_private_team"),
])
def test_a_batch_needs_token_protocol_and_private_team(teamspace, change, status, word):
    server = teamspace()
    headers = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    reply = post(server, make_events(2), headers)
    assert reply.status_code == status
    body = reply.json()
    assert word in (body.get("error"), body.get("error_code"))
    if status == 412:
        assert "sync protocol 2.0" in body["sync_protocol"]["upgrade_guidance"]
    assert server.events() == []


def test_an_accepted_batch_is_stored_and_the_request_recorded(teamspace):
    server = teamspace()
    events = make_events(3)
    results = post(server, events).json()["results"]
    assert [r["status"] for r in results] == ["success"] * 3
    assert [r["status"] for r in post(server, events[:1]).json()["results"]] == ["duplicate"]
    log = requests.get(server.url + "/_stub/requests", timeout=10).json()["requests"]
    first = log[0]
    assert first["headers"]["Authorization"] == (
        "Bearer " + hashlib.sha256(ACCESS.encode()).hexdigest()[:16])
    assert ACCESS not in json.dumps(log)
    assert first["headers"]["X-Team-Slug"] == DEFAULT_TEAM
    assert first["events"] == 3 and first["body_bytes"] < first["decoded_bytes"]


def test_limits_are_advertised_and_enforced(teamspace):
    server = teamspace(max_events_per_batch=2, max_decompressed_bytes=4000)
    health = requests.get(server.url + "/api/v1/sync/health/", timeout=10).json()
    assert health["sync_ingress"]["limits"]["max_events_per_batch"] == 2
    assert health["sync_ingress"]["limits"]["max_decompressed_bytes_per_batch"] == 4000
    too_many = post(server, make_events(3))
    assert (too_many.status_code, too_many.json()["error"]) == (413, "sync_batch_too_large")
    assert post(server, make_events(1, pad=5000)).status_code == 413
    assert post(server, make_events(2)).status_code == 200


def test_scripted_words_categories_and_400s(teamspace):
    server = teamspace(status_for=(("Queued", "queued"), ("Warn", "warning")),
                       refuse_types=(("Nope", "project_refused"),),
                       invalid_types=frozenset({"Bad"}), poison_types=frozenset({"Poison"}))
    mixed = [*make_events(1, event_type="Queued", prefix="Q"),
             *make_events(1, event_type="Warn", prefix="W"),
             *make_events(1, event_type="Nope", prefix="N")]
    results = post(server, mixed).json()["results"]
    assert [(r["status"], r.get("error_category")) for r in results] == [
        ("queued", None), ("warning", None), ("rejected", "project_refused")]
    assert [e["event_type"] for e in server.events()] == ["Queued", "Warn"]
    bad = [*make_events(1), *make_events(1, event_type="Bad", prefix="B")]
    reply = post(server, bad)
    assert reply.status_code == 400
    assert [d["event_id"] for d in reply.json()["details"]] == [bad[1].event_id]
    poison = post(server, [*make_events(1), *make_events(1, event_type="Poison", prefix="P")])
    assert poison.status_code == 400 and "details" not in poison.json()


def test_a_refresh_replay_is_409_benign_retry_and_spends_nothing(teamspace):
    server = teamspace(refresh_replays=2, replay_retry_after=3)
    for _ in range(2):
        replay = refresh(server, REFRESH)
        assert replay.status_code == 409
        assert replay.json()["error"] == "refresh_replay_benign_retry"
        assert replay.json()["retry_after"] == 3
    assert refresh(server, "unknown").json()["error"] == "invalid_grant"  # no replay for it
    fresh = refresh(server, REFRESH)  # the same refresh token still works, once
    assert fresh.status_code == 200 and fresh.json()["refresh_token"] != REFRESH
    assert refresh(server, REFRESH).json()["error"] == "invalid_grant"
    assert server.app.teamspace.token_requests == 5


def test_serve_teamspace_flags_from_the_command_line(serve, monkeypatch):
    server = serve("--teamspace", "--auth-token-env", "TS_ACCESS", "--max-events-per-batch",
                   "7", "--status-for", "Q=queued", "--refresh-token-env", "TS_REFRESH",
                   "--refresh-replays", "1", env={"TS_ACCESS": ACCESS, "TS_REFRESH": REFRESH})
    assert server.first_line.startswith("listening on http://127.0.0.1:")
    health = requests.get(server.url + "/api/v1/sync/health/", timeout=10).json()
    assert health["sync_ingress"]["limits"]["max_events_per_batch"] == 7
    assert requests.get(server.url + "/api/v1/me", headers=GOOD, timeout=10).ok
    reply = post(server, make_events(1, event_type="Q"))
    assert reply.json()["results"][0]["status"] == "queued"
    assert refresh(server, REFRESH).status_code == 409
    assert refresh(server, REFRESH).status_code == 200


def test_a_bad_pair_option_is_one_line(eventsync_bin, home):
    done = subprocess.run([eventsync_bin, "stub", "serve", "--teamspace", "--status-for", "Q"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1 and "--status-for 'Q': give TYPE=VALUE" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_instance_id_is_stable_for_one_db(stub_server, tmp_path):
    """Issue 15.11: a restart on the same --db is the same instance (no false reset)."""
    db = tmp_path / "stub.db"
    first = stub_server(db=db)
    before = requests.get(first.url + "/api/v1/sync/health/", timeout=10).json()
    first.stop()
    second = stub_server(db=db)
    after = requests.get(second.url + "/api/v1/sync/health/", timeout=10).json()
    assert before["server_instance_id"] == after["server_instance_id"]
    other = stub_server(db=tmp_path / "other.db")
    assert requests.get(other.url + "/api/v1/sync/health/", timeout=10).json()[
        "server_instance_id"] != before["server_instance_id"]
