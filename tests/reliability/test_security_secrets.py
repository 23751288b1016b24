"""A whole session configured with tokens, secret headers, a URL password and a secret query
value: every CLI command is run (successes and failures, human and `--json`, `--debug`, the
daemon, with every logger at DEBUG), and no secret value appears in any stdout, stderr, log
record, archive file or ledger/audit text."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.processes import wait_until

from eventsync.home import DB_NAME
from eventsync_stub.server import StubServer

EXT_TOKEN = "SECRET-ext-bearer-7f3a9c"
API_KEY = "SECRET-api-key-51be02"
STUB_TOKEN = "SECRET-stub-token-aa41"
STUB_HEADER = "SECRET-stub-header-93d0"
URL_PASSWORD = "SECRET-url-pass-c0ffee"
QUERY_TOKEN = "SECRET-query-token-beef"
WRONG_TOKEN = "SECRET-wrong-bearer-1234"
TS_TOKEN = "SECRET-teamspace-token-77e1"
BATCH = "/api/v1/events/batch/"  # an external target's URL is the endpoint itself
SECRETS = (EXT_TOKEN, API_KEY, STUB_TOKEN, STUB_HEADER, URL_PASSWORD, QUERY_TOKEN, WRONG_TOKEN,
           TS_TOKEN)


@pytest.fixture
def servers() -> Iterator[dict[str, StubServer]]:
    started = {"ext": StubServer(auth_token=EXT_TOKEN), "plain": StubServer(),
               "ts": StubServer(auth_token=TS_TOKEN), "refusing": StubServer(auth_token="other")}
    for server in started.values():
        server.start()
    yield started
    for server in started.values():
        server.stop()


class Transcript:
    """Everything a user or a log collector could see during the session."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def add(self, label: str, *texts: str) -> None:
        self.chunks.extend(f"[{label}] {text}" for text in texts)

    def leaks(self) -> list[str]:
        return [f"{secret} in {_around(chunk, secret)!r}" for chunk in self.chunks
                for secret in SECRETS if secret in chunk]


def _around(text: str, secret: str) -> str:
    """The leak in context: where it was seen, and the text around it."""
    at = text.index(secret)
    return f"{text[:text.index(']') + 1]} ...{text[max(0, at - 120):at + len(secret) + 40]}"


def configure(cli: Callable[..., Any], servers: dict[str, StubServer], log: Transcript) -> None:
    """Targets of every kind, each holding secrets its own way."""
    plain = servers["plain"].url.replace("http://", f"http://user:{URL_PASSWORD}@")
    steps = [
        ("events", "import", "-"),
        ("sync", "targets", "add", "ext", "--type", "external", "--url", servers["ext"].url + BATCH,
         "--option", f"header.Authorization=Bearer {EXT_TOKEN}", "--option",
         f"header.X-Api-Key={API_KEY}", "--activate"),
        ("sync", "targets", "add", "stubby", "--type", "stub", "--url",
         f"{plain}/?token={QUERY_TOKEN}", "--option", f"token={STUB_TOKEN}", "--option",
         f"header.Authorization=Bearer {STUB_HEADER}"),
        ("sync", "targets", "add", "wrong", "--type", "external", "--url",
         servers["refusing"].url + BATCH, "--option", f"header.Authorization=Bearer {WRONG_TOKEN}"),
        ("sync", "targets", "add", "ts", "--type", "teamspace", "--url", servers["ts"].url,
         "--option", "enabled=true", "--option", "team=core", "--option", "user=alice"),
    ]
    lines = "".join(f'{{"event_type": "T", "aggregate_id": "A{i}", "payload": {{"i": {i}}}}}\n'
                    for i in range(12))
    for step in steps:
        result = cli(*step, stdin=lines if step[1] == "import" else None)
        log.add(" ".join(step[:2]), result.out, result.err)
        assert result.code == 0, result.err
    result = cli("auth", "set-token", "ts", stdin=TS_TOKEN + "\n")
    log.add("auth set-token", result.out, result.err)
    assert result.code == 0, result.err


COMMANDS: list[tuple[str, ...]] = [
    ("sync", "now"), ("sync", "now", "--json"), ("sync", "now", "--target", "stubby"),
    ("sync", "now", "--target", "wrong", "--json"), ("sync", "now", "--target", "ts"),
    ("sync", "now", "--all", "--json"), ("--debug", "sync", "now", "--target", "wrong"),
    ("sync", "targets", "list"), ("sync", "targets", "list", "--json"),
    ("sync", "status"), ("sync", "status", "--json"), ("sync", "status", "--check"),
    ("sync", "config", "show"), ("sync", "config", "show", "--json"),
    ("auth", "list"), ("auth", "list", "--json"), ("plugins", "--all", "--json"),
    ("events", "list", "--json"), ("sync", "gc", "--dry-run", "--json"),
    ("sync", "retry", "--target", "wrong"), ("sync", "retry", "--target", "stubby", "--failed"),
    ("sync", "migrate", "--dry-run", "--json"),
    # failures that quote what they were given
    ("sync", "targets", "add", "ext2", "--type", "external", "--url", "http://example.com",
     "--option", f"header.Authorization=Bearer {EXT_TOKEN}"),
    ("sync", "targets", "add", "ext", "--type", "external", "--url", "https://example.com",
     "--option", f"header.Authorization=Bearer {EXT_TOKEN}"),
    ("sync", "targets", "add", "ext3", "--type", "external", "--url", "https://example.com",
     "--option", f"header.X-Bad={API_KEY}\x01"),
    ("sync", "targets", "add", "ts2", "--type", "teamspace", "--url", "https://example.com",
     "--option", f"token={TS_TOKEN}"),
    ("sync", "targets", "add", "bad url", "--type", "stub", "--url",
     f"http://u:{URL_PASSWORD}@[::1"),
    ("auth", "set-token", "ts", TS_TOKEN),
]


def test_no_secret_reaches_any_output_log_or_file(
        cli: Callable[..., Any], home: Path, servers: dict[str, StubServer], tmp_path: Path,
        caplog: pytest.LogCaptureFixture, eventsync_bin: str) -> None:
    caplog.set_level(logging.DEBUG)
    log = Transcript()
    configure(cli, servers, log)
    for number, args in enumerate(COMMANDS):
        result = cli(*args)
        log.add(f"command {number}", result.out, result.err)
    archive = tmp_path / "archive.jsonl"
    result = cli("sync", "archive", "--to", str(archive))
    log.add("archive", result.out, result.err, archive.read_text(encoding="utf-8"))
    log.add("daemon", *run_daemon(eventsync_bin, home))
    log.add("logs", caplog.text, *(str(record.args) for record in caplog.records))
    log.add("database diagnostics", *stored_diagnostics(home / DB_NAME))
    assert servers["ext"].events(), "the session must really have delivered something"
    assert any("401" in chunk or "refused" in chunk for chunk in log.chunks)
    assert log.leaks() == []


def run_daemon(eventsync_bin: str, home: Path) -> tuple[str, str]:
    """`sync daemon` for two rounds (waited for, however slow the machine), with a variable
    token in its environment too."""
    env = {**os.environ, "EVENTSYNC_HOME": str(home)}
    before = finished_jobs(home)
    proc = subprocess.Popen([eventsync_bin, "--debug", "sync", "daemon", "--interval", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: finished_jobs(home) >= before + 2 or proc.poll() is not None,
                   timeout=60, interval=0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def finished_jobs(home: Path) -> int:
    """Jobs that ended, whatever their outcome: one per daemon round."""
    conn = sqlite3.connect(home / DB_NAME, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM jobs WHERE state NOT IN"
                                " ('queued', 'in_progress')").fetchone()[0])
    except sqlite3.OperationalError:  # no jobs table yet
        return 0
    finally:
        conn.close()


def stored_diagnostics(db: Path) -> list[str]:
    """Text eventsync keeps for people to read later: ledger details, audit, job errors."""
    conn = sqlite3.connect(db)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        found = [row[0] for row in conn.execute("SELECT detail FROM deliveries")]
        if "jobs" in tables:
            found += [str(row[0]) for row in conn.execute("SELECT last_error FROM jobs")]
        if "audit" in tables:
            found += [" ".join(map(str, row)) for row in conn.execute("SELECT * FROM audit")]
        return found
    finally:
        conn.close()


def test_debug_log_of_a_request_masks_a_secret_query_value(
        caplog: pytest.LogCaptureFixture) -> None:
    """urllib3 logs every request line at DEBUG, query string included; a target URL such as
    `...?api_key=...` used to put its key in any debug log."""
    from eventsync.delivery.batch_http import BatchClient
    from eventsync.events import build_event

    caplog.set_level(logging.DEBUG)
    with StubServer() as server, \
            BatchClient(f"{server.url}{BATCH}?api_key={QUERY_TOKEN}") as client:
        client.post_batch([build_event({"event_type": "T", "aggregate_id": "A1"})])
    assert "POST" in caplog.text and "api_key=***" in caplog.text
    assert QUERY_TOKEN not in caplog.text
