"""Target tokens: `eventsync auth` reads them from stdin into a 0600 credentials.toml, and
`eventsync.target_token` hands them to receivers; no command ever prints one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from support.receivers import one_error

import eventsync
from eventsync.delivery.credentials import (
    credentials_path,
    get_credentials,
    get_token,
    parse_token_input,
    set_token,
)

TOKEN = "tok_9f8e7d6c5b4a"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stored(home: Path) -> dict:
    return tomllib.loads(credentials_path(home).read_text(encoding="utf-8"))


def test_set_token_reads_stdin_and_writes_a_0600_file(cli, home: Path) -> None:
    res = cli("auth", "set-token", "prod", stdin=f"  {TOKEN}\n")
    assert res.code == 0, res.err
    assert stored(home) == {"targets": {"prod": {"token": TOKEN}}}
    assert mode(credentials_path(home)) == 0o600
    assert TOKEN not in res.out + res.err
    assert "stored a token for target prod" in res.out
    assert "no target named prod is registered yet" in res.err
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".credentials-")) == []


def test_set_token_replaces_one_and_keeps_the_others(cli, home: Path) -> None:
    cli("auth", "set-token", "prod", stdin="first-token")
    cli("auth", "set-token", "staging", stdin="staging-token")
    res = cli("auth", "set-token", "prod", stdin="second-token")
    assert res.code == 0
    assert stored(home)["targets"] == {"prod": {"token": "second-token"},
                                       "staging": {"token": "staging-token"}}


def test_a_loose_file_is_tightened_on_the_next_write(cli, home: Path) -> None:
    home.mkdir(parents=True)
    credentials_path(home).write_text('[targets.old]\ntoken = "old-token"\n')
    os.chmod(credentials_path(home), 0o644)
    assert cli("auth", "set-token", "prod", stdin=TOKEN).code == 0
    assert mode(credentials_path(home)) == 0o600
    assert set(stored(home)["targets"]) == {"old", "prod"}


@pytest.mark.parametrize(("stdin", "message"), [
    ("", "the token is empty"),
    ("  \n", "the token is empty"),
    ("abc\ndef\n", "line break"),
    ("abc def", "whitespace"),
    ("tök", "HTTP header"),
])
def test_a_bad_token_is_refused_and_nothing_is_written(cli, home: Path, stdin: str,
                                                       message: str) -> None:
    res = cli("auth", "set-token", "prod", stdin=stdin)
    assert res.code == 1
    assert message in one_error(res.err)
    assert not credentials_path(home).exists()
    assert stdin.strip() == "" or stdin.strip() not in res.err


def test_a_token_given_as_an_argument_is_refused_without_being_echoed(cli, home: Path) -> None:
    for extra in ([TOKEN], ["--token", TOKEN], [f"--token={TOKEN}"]):
        res = cli("auth", "set-token", "prod", *extra, stdin="from-stdin")
        assert res.code == 1
        assert "read from stdin" in res.err
        assert TOKEN not in res.out + res.err
    assert not credentials_path(home).exists()


def test_a_bad_target_name_is_refused(cli, home: Path) -> None:
    res = cli("auth", "set-token", "no spaces", stdin=TOKEN)
    assert res.code == 1 and "invalid target name" in res.err
    assert not credentials_path(home).exists()


def test_remove_token_and_list(cli, home: Path) -> None:
    cli("auth", "set-token", "prod", stdin="prod-token")
    cli("auth", "set-token", "staging", stdin="staging-token")
    cli("sync", "targets", "add", "prod", "--type", "stub", "--url", "http://127.0.0.1:9")
    listed = cli("auth", "list", "--json")
    assert listed.json() == [
        {"target": "prod", "source": "credentials.toml", "registered": True,
         "refresh_token": False, "expires_at": None},
        {"target": "staging", "source": "credentials.toml", "registered": False,
         "refresh_token": False, "expires_at": None},
    ]
    human = cli("auth", "list")
    assert "prod" in human.out and "token" not in human.out.replace("TARGET", "")
    assert cli("auth", "remove-token", "staging").code == 0
    assert stored(home)["targets"] == {"prod": {"token": "prod-token"}}
    missing = cli("auth", "remove-token", "staging")
    assert missing.code == 1 and "no token is stored for target 'staging'" in missing.err
    assert "-token" not in cli("auth", "list", "--json").out


def test_concurrent_writers_lose_nothing(home: Path, eventsync_bin: str) -> None:
    names = [f"t{i}" for i in range(6)]
    procs = [subprocess.Popen([eventsync_bin, "auth", "set-token", name],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True) for name in names]
    for name, proc in zip(names, procs, strict=True):
        proc.communicate(f"token-of-{name}", timeout=60)
        assert proc.returncode == 0
    assert {name: entry["token"] for name, entry in stored(home)["targets"].items()} == {
        name: f"token-of-{name}" for name in names}


def test_target_token_prefers_the_env_variable_named_by_token_env(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    set_token(home, "prod", "stored-token")
    target = eventsync.Target("prod", "teamspace", "https://ts.test", {"token_env": "TS_TOKEN"},
                              home=str(home))
    monkeypatch.delenv("TS_TOKEN", raising=False)
    assert eventsync.target_token(target) == "stored-token"
    monkeypatch.setenv("TS_TOKEN", " env-token\n")
    assert eventsync.target_token(target) == "env-token"
    other = eventsync.Target("other", "teamspace", "https://ts.test", home=str(home))
    assert eventsync.target_token(other) is None
    assert get_token(home, "other") is None


def test_target_token_without_a_home_uses_eventsync_home(home: Path) -> None:
    home.mkdir(parents=True)
    set_token(home, "prod", "stored-token")
    assert eventsync.target_token(eventsync.Target("prod", "x", "https://x.test")) == (
        "stored-token")


def test_malformed_files_and_variables_are_one_line_errors_without_the_secret(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    credentials_path(home).write_text(f'[targets.prod]\ntoken = "{TOKEN}\n')
    target = eventsync.Target("prod", "x", "https://x.test", home=str(home))
    with pytest.raises(eventsync.ConfigError) as caught:
        eventsync.target_token(target)
    assert "malformed TOML" in str(caught.value) and TOKEN not in str(caught.value)
    monkeypatch.setenv("TS_TOKEN", f"{TOKEN}\nX-Injected: 1")
    bad_env = eventsync.Target("prod", "x", "https://x.test", {"token_env": "TS_TOKEN"},
                               home=str(home))
    with pytest.raises(eventsync.ConfigError) as caught:
        eventsync.target_token(bad_env)
    assert "TS_TOKEN" in str(caught.value) and TOKEN not in str(caught.value)
    not_a_name = eventsync.Target("prod", "x", "https://x.test", {"token_env": "$(oops)"})
    with pytest.raises(eventsync.ConfigError, match="not an environment variable name"):
        eventsync.target_token(not_a_name)


# --- the JSON form (CONTRACTS §6) ---------------------------------------------------------

def test_set_token_takes_the_json_form_with_refresh_and_expiry(cli, home: Path) -> None:
    res = cli("auth", "set-token", "ts", stdin=json.dumps({
        "access_token": TOKEN, "refresh_token": "rt_0a1b2c3d4e",
        "expires_at": "2030-01-02T03:04:05+00:00", "token_type": "Bearer"}))
    assert res.code == 0, res.err
    assert "with a refresh token, expiring 2030-01-02T03:04:05Z" in res.out
    assert TOKEN not in res.out + res.err and "rt_0a1b2c3d4e" not in res.out + res.err
    assert stored(home)["targets"]["ts"] == {"token": TOKEN, "refresh_token": "rt_0a1b2c3d4e",
                                             "expires_at": "2030-01-02T03:04:05Z"}
    assert mode(credentials_path(home)) == 0o600
    listed = cli("auth", "list", "--json").json()
    assert listed[0]["refresh_token"] is True
    assert listed[0]["expires_at"] == "2030-01-02T03:04:05Z"
    assert TOKEN not in cli("auth", "list").out


def test_expires_in_is_counted_from_now(home: Path) -> None:
    parsed = parse_token_input(json.dumps({"access_token": TOKEN, "expires_in": 120}),
                               now=1_000.0)
    assert parsed.expires_at == 1_120.0 and parsed.refresh_token is None
    assert parsed.expires_within(5, now=1_116.0) and not parsed.expires_within(5, now=1_100.0)
    assert TOKEN not in repr(parsed)


@pytest.mark.parametrize(("stdin", "message"), [
    ('{"access_token": 7}', 'needs a string "access_token"'),
    ('{"refresh_token": "r"}', 'needs a string "access_token"'),
    ('{"access_token": "a b"}', "access_token: the token contains whitespace"),
    ('{"access_token": "abcd", "expires_at": "tomorrow"}', "ISO-8601 time with a UTC offset"),
    ('{"access_token": "abcd", "expires_at": "2030-01-02T03:04:05"}', "with a UTC offset"),
    ('{"access_token": "abcd", "expires_in": "soon"}', '"expires_in" must be a number'),
    ('{"access_token": "abcd"', "does not parse"),
])
def test_a_bad_json_form_is_refused_and_writes_nothing(cli, home: Path, stdin: str,
                                                       message: str) -> None:
    res = cli("auth", "set-token", "ts", stdin=stdin)
    assert res.code == 1
    assert message in one_error(res.err)
    assert not credentials_path(home).exists()


def test_update_credentials_rotates_under_the_lock(home: Path) -> None:
    set_token(home, "ts", json.dumps({"access_token": "old-access", "refresh_token": "old-rt",
                                      "expires_in": 0}))
    target = eventsync.Target("ts", "teamspace", "https://x.test", home=str(home))
    found, variable = eventsync.target_credentials(target)
    assert variable is None and found.refresh_token == "old-rt"
    new = eventsync.StoredToken("new-access", "new-rt", 2_000_000_000.0)
    assert eventsync.update_target_credentials(target, lambda current: new) == new
    assert get_credentials(home, "ts") == new
    assert eventsync.update_target_credentials(target, lambda current: current) == new
    assert mode(credentials_path(home)) == 0o600
