"""One session that uses a stored token, a token from the environment, a secret header and a
header from the environment, against servers that accept, refuse and echo them; every command
an operator would run is captured and searched for the secret values. None may appear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.receivers import SAAS_ENV, ledger_details
from support.spec_kitty import envelope_325

from eventsync_stub.teamspace import TeamspaceMode

STORED = "stored_tok_5a9c31e7"
ENV_TOKEN = "env_tok_0b3f66d2"
HEADER = "hdr_val_c4e812aa"
ENV_HEADER = "envhdr_val_77de90"
SECRETS = (STORED, ENV_TOKEN, HEADER, ENV_HEADER)


@pytest.fixture
def session(cli, home: Path, stub_server, recording_server, monkeypatch, tmp_path: Path):
    """Targets with every kind of secret; returns a runner that keeps everything printed."""
    monkeypatch.setenv("TS_TOKEN", ENV_TOKEN)
    monkeypatch.setenv("EXT_AUTH", f"Bearer {ENV_HEADER}")
    monkeypatch.setenv(SAAS_ENV, "1")
    printed: list[str] = []

    def run(*args: str, stdin: str | None = None):
        res = cli(*args, stdin=stdin)
        printed.extend([res.out, res.err])
        return res

    refusing = stub_server(auth_token="something-else")
    echoing = recording_server(status=500, echo_header="Authorization")
    ts_accepting = stub_server(teamspace=TeamspaceMode(access_token=STORED))
    ts_refusing = stub_server(teamspace=TeamspaceMode(access_token="something-else"))
    ts = ("--type", "teamspace", "--option", "team=team-blue")
    targets = [
        ("ts-ok", ts, ts_accepting.url, ()),
        ("ts-env", ts, ts_refusing.url, ("--option", "token_env=TS_TOKEN")),
        ("ts-echo", ts, echoing.url, ()),
        ("ext-ok", ("--type", "external"), f"{stub_server(auth_token=ENV_HEADER).url}"
         "/api/v1/events/batch/", ("--option", "header_env.Authorization=EXT_AUTH",
                                   "--option", f"header.X-Api-Key={HEADER}")),
        ("ext-echo", ("--type", "external"), echoing.url,
         ("--option", "header_env.Authorization=EXT_AUTH")),
        ("ext-refused", ("--type", "external"), f"{refusing.url}/api/v1/events/batch/",
         ("--option", f"header.Authorization=Bearer {HEADER}")),
    ]
    for name, kind, url, options in targets:
        assert run("sync", "targets", "add", name, *kind, "--url", url, *options).code == 0
    for name in ("ts-ok", "ts-env", "ts-echo"):
        assert run("auth", "set-token", name, stdin=STORED + "\n").code == 0
    envelopes = tmp_path / "envelopes.jsonl"  # spec-kitty's, so the teamspace targets post
    envelopes.write_text("".join(json.dumps(envelope_325()) + "\n" for _ in range(4)))
    assert run("events", "import", str(envelopes)).code == 0
    return run, printed, [t[0] for t in targets]


def test_no_command_ever_prints_a_secret(session, home: Path) -> None:
    run, printed, names = session
    # one event a request: three failed requests in a row print the server's (echoed) reason
    outcomes = {name: run("sync", "now", "--target", name, "--batch-size", "1").code
                for name in names}
    # ts-echo: the echoing server has no /api/v1/me, so no Private Teamspace: not ready;
    # ext-echo: three failed batches in a row stop the drain early with one event due: exit 3
    assert outcomes == {"ts-ok": 0, "ts-env": 1, "ts-echo": 1, "ext-ok": 0, "ext-echo": 3,
                        "ext-refused": 1}
    for name in names:
        run("sync", "now", "--target", name, "--json")
        run("--debug", "sync", "now", "--target", name)
    run("sync", "now", "--all", "--json")
    run("sync", "retry", "--target", "ts-echo")
    run("sync", "retry", "--target", "ext-echo", "--failed")
    run("sync", "targets", "use", "ts-ok")
    for args in (("sync", "targets", "list"), ("sync", "targets", "list", "--json"),
                 ("sync", "status"), ("sync", "status", "--json"),
                 ("sync", "status", "--check", "--json"), ("sync", "config", "show"),
                 ("auth", "list"), ("auth", "list", "--json"), ("plugins", "--json"),
                 ("events", "list", "--json")):
        run(*args)
    run("auth", "set-token", "ts-ok", STORED)  # the mistake of passing it as an argument
    run("sync", "targets", "add", "again", "--type", "teamspace", "--url", "https://t.test",
        "--option", f"token={STORED}")
    run("sync", "targets", "add", "loud", "--type", "external", "--url", "http://ext.example",
        "--option", f"header.X-Api-Key={HEADER}")
    text = "\n".join(printed)
    assert "HTTP 500 Nope" in text  # the echoing server was reached and its reason printed
    assert [secret for secret in SECRETS if secret in text] == []


def test_the_ledger_holds_no_secret_either(session, home: Path) -> None:
    run, _, names = session
    for name in names:
        run("sync", "now", "--target", name, "--batch-size", "1")
    stored = b"".join(path.read_bytes() for path in home.glob("eventsync.db*"))
    # header.* values are options the operator typed: the targets table keeps them, by design
    for secret in (STORED, ENV_TOKEN, ENV_HEADER):
        assert secret.encode() not in stored
    details = ledger_details(home)
    assert any("HTTP 500 Nope" in d for d in details)
    assert not any(secret in d for d in details for secret in SECRETS)
