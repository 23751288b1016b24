"""The gates of the `teamspace` receiver, each on its own (nothing posted, nothing recorded,
everything stays due, one line saying what to do), and its options checked when the target is
added."""

from __future__ import annotations

import pytest
import responses
from support.receivers import ledger_rows, one_error
from teamspace_helpers import ACCESS, posted, status_of, sync_json

URL = "https://teamspace.example.com"


def add(cli, url: str, *options: str) -> None:
    res = cli("sync", "targets", "add", "ts", "--type", "teamspace", "--url", url, *options,
              "--activate")
    assert res.code == 0, res.err


@pytest.mark.parametrize("variable", ["SPEC_KITTY_ENABLE_SAAS_SYNC", "EVENTSYNC_ENABLE_SAAS_SYNC"])
@pytest.mark.parametrize("value", ["1", "true", "YES", "y", "On"])
def test_either_enable_variable_opens_the_machine_gate(cli, home, teamspace, ts_target,
                                                       put_envelopes, monkeypatch, variable,
                                                       value):
    server = teamspace()
    monkeypatch.setenv(variable, value)
    ts_target(server.url)
    put_envelopes(1)
    code, report, err = sync_json(cli)
    assert (code, report.get("delivered")) == (0, 1), err


@pytest.mark.parametrize(("env", "options", "reason"), [
    ({}, (), "SaaS sync is off: set SPEC_KITTY_ENABLE_SAAS_SYNC=1"),
    ({"SPEC_KITTY_ENABLE_SAAS_SYNC": "0"}, (), "SaaS sync is off"),
    ({"SPEC_KITTY_ENABLE_SAAS_SYNC": "maybe"}, (), "SaaS sync is off"),
    ({}, ("--option", "enabled=true"), "SaaS sync is off"),  # no option bypasses the gate
    ({"SPEC_KITTY_ENABLE_SAAS_SYNC": "1", "SPEC_KITTY_SYNC_DISABLE": "1"}, (),
     "SaaS sync is disabled by SPEC_KITTY_SYNC_DISABLE"),
    ({"EVENTSYNC_ENABLE_SAAS_SYNC": "1"}, ("--option", "enabled=false"),
     "target ts is switched off (option enabled=false)"),
])
def test_a_closed_gate_posts_nothing_and_leaves_events_due(cli, home, teamspace, ts_target,
                                                           put_envelopes, monkeypatch, env,
                                                           options, reason):
    server = teamspace()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ts_target(server.url, *options)
    envelopes = put_envelopes(3)
    code, report, err = sync_json(cli)
    assert code == 1 and report == {}
    assert f"target ts is not ready: {reason}" in one_error(err)
    assert list(server.app.requests) == []  # not even /api/v1/me
    checked = cli("sync", "status", "--check", "--json")
    assert checked.code == 1
    assert any(reason in p["message"] for p in checked.json()["authority"]["problems"])
    assert ledger_rows(home, "ts") == {}
    assert status_of(cli)["pending"] == len(envelopes)


@pytest.mark.parametrize(("options", "reason"), [
    ((), "no token: run `eventsync auth set-token ts`"),
    (("--option", "token_env=TS_UNSET"), "no token: $TS_UNSET (option token_env) is not set"),
])
def test_without_a_token_nothing_is_sent(cli, home, teamspace, ts_target, monkeypatch,
                                         options, reason):
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "1")
    monkeypatch.delenv("TS_UNSET", raising=False)
    server = teamspace()
    ts_target(server.url, *options, token=None)
    cli("events", "append", "WPStatusChanged", "WP01")
    code, _, err = sync_json(cli)
    assert code == 1 and reason in one_error(err)
    assert list(server.app.requests) == []


def test_every_gate_open_is_not_a_problem_and_status_never_calls_the_server(
        cli, home, monkeypatch):
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "1")
    monkeypatch.setenv("TS_TOKEN", ACCESS)
    add(cli, URL, "--option", "token_env=TS_TOKEN")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        checked = cli("sync", "status", "--check", "--json")
        assert len(mock.calls) == 0
    assert checked.code == 0, checked.json()["authority"]


def test_the_team_option_scopes_events_but_the_wire_carries_the_private_team(
        cli, home, teamspace, ts_target, put_envelopes, monkeypatch):
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "1")
    server = teamspace()
    ts_target(server.url, "--option", "team=team-blue")
    mine = put_envelopes(2, team_slug="team-blue")
    put_envelopes(1, team_slug="team-red")
    code, report, err = sync_json(cli)
    assert code == 0, err
    assert sorted(e["event_id"] for e in server.events()) == sorted(e["event_id"] for e in mine)
    assert {r["headers"]["X-Team-Slug"] for r in posted(server)} == {"team-private-7f3a"}
    assert report["delivered"] == 2


@pytest.mark.parametrize(("url", "options", "message"), [
    ("http://teamspace.example.com", (), "plain http would send the token unencrypted"),
    ("ftp://teamspace.example.com", (), "must start with https://"),
    (URL, ("--option", "token=ts_secret_7c1d9e"), "never put a token in an option"),
    (URL, ("--option", "enable=true"), "unknown option 'enable'"),
    (URL, ("--option", "enabled=maybe"), "must be true or false"),
    (URL, ("--option", "token_env=not a name"), "not an environment variable name"),
    (URL, ("--option", "timeout=0"), "between 0 and 3600"),
    (URL, ("--option", "auth_url=http://auth.example.com"),
     "option auth_url: plain http would send the refresh token unencrypted"),
])
def test_targets_add_refuses_bad_urls_and_options(cli, home, url, options, message):
    res = cli("sync", "targets", "add", "ts", "--type", "teamspace", "--url", url, *options)
    assert res.code == 1
    assert message in one_error(res.err)
    assert "ts_secret_7c1d9e" not in res.err
    assert cli("sync", "targets", "list", "--json").json() == []


@pytest.mark.parametrize(("url", "options"), [
    ("http://127.0.0.1:8080", ()),
    ("http://localhost:8080", ()),
    ("http://[::1]:8080", ()),
    ("http://teamspace.lan", ("--option", "allow_insecure=true")),
    ("https://teamspace.example.com/base/", ("--option", "team=t1")),
    (URL, ("--option", "auth_url=https://auth.example.com/")),
])
def test_targets_add_accepts_https_loopback_and_explicit_insecure(cli, home, url, options):
    res = cli("sync", "targets", "add", "ts", "--type", "teamspace", "--url", url, *options)
    assert res.code == 0, res.err
