"""Tokens of a Teamspace target: the JSON form, a refresh through /oauth/token when 5 s or less
remain or after a 401 (once), rotated tokens stored 0600 and atomically, a refused refresh as a
clear not-ready reason; and no token anywhere but credentials.toml."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import time
import tomllib

import pytest
from support.receivers import ledger_rows, one_error
from teamspace_helpers import ACCESS, REFRESH, gets, posted, sync_json

from eventsync_teamspace import tokens

pytestmark = pytest.mark.usefixtures("saas")


def stored(home) -> dict:
    return tomllib.loads((home / "credentials.toml").read_text())["targets"]["ts"]


def fingerprint(token: str) -> str:
    return "Bearer " + hashlib.sha256(token.encode()).hexdigest()[:16]


def token_posts(server) -> list[dict]:
    return [r for r in server.app.requests if r["path"] == "/oauth/token"]


def test_a_token_about_to_expire_is_refreshed_first_and_the_rotation_stored(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace(access_token="short-lived-1", token_ttl=600)
    ts_target(server.url, token={"access_token": "short-lived-1", "refresh_token": REFRESH,
                                 "expires_in": 3})  # 3 s left: within the 5 s margin
    put_envelopes(2)
    code, report, err = sync_json(cli)
    assert code == 0 and report["delivered"] == 2, err
    assert server.app.teamspace.token_requests == 1
    now = stored(home)
    assert now["token"] != "short-lived-1" and now["refresh_token"] != REFRESH
    assert posted(server)[0]["headers"]["Authorization"] == fingerprint(now["token"])
    assert gets(server, "/api/v1/me")[0]["headers"]["Authorization"] == fingerprint(now["token"])
    assert stat.S_IMODE(os.stat(home / "credentials.toml").st_mode) == 0o600
    assert not [p for p in home.iterdir() if p.name.startswith(".credentials-")]
    expires = time.mktime(time.strptime(now["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 590 < expires - time.time() <= 601


def test_the_refresh_request_is_spec_kittys(cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace()
    ts_target(server.url, token={"access_token": "expired", "refresh_token": REFRESH,
                                 "expires_at": "2020-01-01T00:00:00Z"})
    put_envelopes(1)
    assert sync_json(cli)[0] == 0
    [call] = token_posts(server)
    assert call["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in call["headers"]  # the old bearer token is not sent along
    assert call["form"] == {"grant_type": "refresh_token", "client_id": "cli_native",
                            "refresh_token": fingerprint(REFRESH).removeprefix("Bearer ")}
    assert stored(home)["refresh_token"] != REFRESH  # rotated: the old one is spent


def test_a_401_refreshes_once_then_reposts(cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace()
    ts_target(server.url, token={"access_token": "revoked-by-server", "refresh_token": REFRESH,
                                 "expires_in": 3600})
    envelopes = put_envelopes(3)
    code, report, err = sync_json(cli)
    assert code == 0 and report["delivered"] == 3, err
    assert server.app.teamspace.token_requests == 1
    assert {e["event_id"] for e in server.events()} == {e["event_id"] for e in envelopes}
    assert ledger_rows(home, "ts") == {e["event_id"]: ("success", 1, True) for e in envelopes}


def refused_drain(cli, server, ts_target, put_envelopes, refresh: str) -> str:
    """Drain two envelopes with an expired access token and `refresh`; the drain must stop
    not ready, and this is its one error line."""
    ts_target(server.url, token={"access_token": "expired", "refresh_token": refresh,
                                 "expires_in": 0})
    put_envelopes(2)
    code, _, err = sync_json(cli)
    assert code == 1
    return one_error(err)


def test_a_refused_refresh_is_a_clear_not_ready_and_posts_nothing(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace()
    line = refused_drain(cli, server, ts_target, put_envelopes, "spent-already")
    assert "refresh token of target ts was refused (invalid_grant)" in line
    assert "eventsync auth set-token ts" in line
    assert posted(server) == [] and ledger_rows(home, "ts") == {}
    assert stored(home)["refresh_token"] == "spent-already"  # nothing half-written


def test_a_benign_refresh_replay_is_asked_again_after_its_wait(
        cli, home, teamspace, ts_target, put_envelopes, monkeypatch):
    """409 refresh_replay_benign_retry: the same refresh again after `retry_after`, as the
    real client does; the drain then goes on as after any refresh."""
    waits: list[float] = []
    monkeypatch.setattr(tokens, "_pause", waits.append)
    server = teamspace(refresh_replays=2, replay_retry_after=2)
    ts_target(server.url, token={"access_token": "expired", "refresh_token": REFRESH,
                                 "expires_in": 0})
    envelopes = put_envelopes(2)
    code, report, err = sync_json(cli)
    assert code == 0 and report["delivered"] == 2, err
    assert waits == [2.0, 2.0]
    calls = token_posts(server)
    assert len(calls) == 3 and len({c["form"]["refresh_token"] for c in calls}) == 1
    assert stored(home)["refresh_token"] != REFRESH  # the third answer rotated it
    assert {e["event_id"] for e in server.events()} == {e["event_id"] for e in envelopes}


def test_a_replay_that_does_not_clear_is_not_ready_and_posts_nothing(
        cli, home, teamspace, ts_target, put_envelopes, monkeypatch):
    monkeypatch.setattr(tokens, "_pause", lambda seconds: None)
    server = teamspace(refresh_replays=10, replay_retry_after=600)
    line = refused_drain(cli, server, ts_target, put_envelopes, REFRESH)
    assert "retry the token refresh of target ts (refresh_replay_benign_retry)" in line
    assert len(token_posts(server)) == tokens.REPLAY_TRIES
    assert posted(server) == [] and ledger_rows(home, "ts") == {}
    assert stored(home)["refresh_token"] == REFRESH


@pytest.mark.parametrize(("named", "header", "wait"), [
    (2, None, 2.0), (0.5, 9.0, 0.5), (None, 3.0, 3.0), ("soon", None, 1.0), (True, None, 1.0),
    (600, None, tokens.MAX_REPLAY_WAIT), (-4, None, 0.0), (float("nan"), None, 1.0)])
def test_the_replay_wait_is_the_servers_bounded(named, header, wait):
    assert tokens._replay_wait(named, header) == wait


def test_a_401_without_a_refresh_token_says_how_to_fix_it(cli, home, teamspace, ts_target,
                                                          put_envelopes):
    server = teamspace()
    ts_target(server.url, token="not-the-right-one")
    put_envelopes(2)
    code, _, err = sync_json(cli)
    assert code == 1
    assert "HTTP 401" in one_error(err) and "auth set-token ts" in err
    assert ledger_rows(home, "ts") == {}


def test_a_token_env_variable_is_used_as_is(cli, home, teamspace, ts_target, put_envelopes,
                                            monkeypatch):
    server = teamspace()
    monkeypatch.setenv("TS_TOKEN", ACCESS)
    ts_target(server.url, "--option", "token_env=TS_TOKEN", token=None)
    put_envelopes(1)
    assert sync_json(cli)[0] == 0
    assert posted(server)[0]["headers"]["Authorization"] == fingerprint(ACCESS)


def test_no_token_ever_reaches_output_logs_ledger_or_database(
        cli, home, teamspace, ts_target, put_envelopes, caplog):
    caplog.set_level("DEBUG")
    server = teamspace(invalid_types=frozenset({"Bad"}))
    ts_target(server.url, token={"access_token": "stale-token-abc", "refresh_token": REFRESH,
                                 "expires_in": 3600})
    put_envelopes(2)
    put_envelopes(1, event_type="Bad")
    seen = [sync_json(cli)]
    seen.append(cli("sync", "status", "--json"))
    seen.append(cli("auth", "list", "--json"))
    rotated = stored(home)
    secrets = ["stale-token-abc", REFRESH, rotated["token"], rotated["refresh_token"]]
    text = repr(seen) + caplog.text
    conn = sqlite3.connect(home / "eventsync.db")
    for table, in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        text += repr(conn.execute(f"SELECT * FROM {table}").fetchall())
    conn.close()
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("where", ["option", "env", "origin"])
def test_the_token_endpoint_is_auth_url_then_saas_url_then_the_origin(
        cli, home, teamspace, ts_target, put_envelopes, monkeypatch, where):
    api, auth = teamspace(), teamspace()
    options = ("--option", f"auth_url={auth.url}") if where == "option" else ()
    if where == "env":
        monkeypatch.setenv("SPEC_KITTY_SAAS_URL", auth.url)
    ts_target(api.url, *options, token={"access_token": "expired", "refresh_token": REFRESH,
                                        "expires_in": 0})
    put_envelopes(1)
    sync_json(cli)
    asked = auth if where != "origin" else api
    other = api if where != "origin" else auth
    assert (len(token_posts(asked)), len(token_posts(other))) == (1, 0)
