"""Faults around a drain: a receiver that hangs, a database held busy past the timeout, and a
disk that fills between the POST and the ledger write. Each ends in a bounded time with a clear
outcome, and the next drain proceeds and balances the books exactly."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import can_mount, count_rows, fill, one_line_error, tiny_filesystem

from eventsync.errors import StorageError
from eventsync.home import DB_NAME
from eventsync.journal.journal import Journal
from eventsync.store import Store
from eventsync_stub.server import StubServer

HANG_GUARD_SECONDS = 60  # not a speed assertion: only how long we wait before calling it a hang


def events_jsonl(count: int) -> str:
    return "".join(json.dumps({"event_type": "T", "aggregate_id": f"A{i}",
                               "payload": {"x": "y" * 100}}) + "\n" for i in range(count))


def ledger_states(home: Path) -> Counter[str]:
    conn = sqlite3.connect(home / DB_NAME)
    try:
        return Counter(state for (state,) in conn.execute("SELECT state FROM deliveries"))
    finally:
        conn.close()


def exactly_once(stub: StubServer, count: int) -> None:
    ids = [event["event_id"] for event in stub.events()]
    assert len(ids) == len(set(ids)) == count


# -- a receiver that hangs ----------------------------------------------------------------------


@pytest.fixture
def slow_stub() -> Iterator[StubServer]:
    with StubServer(latency_ms=1_500) as server:
        yield server


def test_hanging_receiver_times_out_records_transient_failure_and_next_drain_proceeds(
        cli: Callable[..., Any], home: Path, slow_stub: StubServer) -> None:
    """The stub sleeps 1.5 s before answering; the target's `timeout` option is 0.3 s."""
    assert cli("events", "import", "-", stdin=events_jsonl(5)).code == 0
    assert cli("sync", "targets", "add", "slow", "--type", "stub", "--url", slow_stub.url,
               "--option", "timeout=0.3", "--activate").code == 0
    first = cli("sync", "now", "--json")
    assert first.code == 0, first.err
    assert first.json()["retrying"] == 5
    assert ledger_states(home) == {"failed_transient": 5}
    detail = {row[0] for row in sqlite3.connect(home / DB_NAME).execute(
        "SELECT detail FROM deliveries")}
    assert detail == {"read timeout after 0.3s"}  # the whole-request deadline, worded as a read
    work = cli("sync", "status", "--json").json()["work"]
    assert work["in_progress"] == 0, "the timed-out drain still holds its lease"
    # the server recovers; the operator skips the backoff; the next drain delivers everything
    slow_stub.app.faults = replace(slow_stub.app.faults, latency_ms=0)
    assert cli("sync", "retry", "--target", "slow").code == 0
    second = cli("sync", "now", "--json").json()
    assert second["delivered"] + second["duplicate"] == 5
    assert ledger_states(home)["failed_transient"] == 0
    exactly_once(slow_stub, 5)


# -- SQLite busy past the timeout --------------------------------------------------------------


@pytest.fixture
def write_lock(home: Path) -> Iterator[Callable[[], None]]:
    """Returns `hold()`: another connection takes the database's write lock until teardown."""
    holders: list[sqlite3.Connection] = []

    def hold() -> None:
        conn = sqlite3.connect(home / DB_NAME, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holders.append(conn)

    yield hold
    for conn in holders:
        conn.execute("ROLLBACK")
        conn.close()


def bounded(call: Callable[[], Any]) -> Any:
    """Run `call` on a thread; fail (instead of hanging the suite) if it never returns."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive(), "the call hung while the database was busy"
    return outcome[0]


def test_busy_database_is_a_one_line_retryable_error_not_a_hang(
        home: Path, write_lock: Callable[[], None]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    store = Store(home / DB_NAME, busy_timeout_ms=200)
    journal = Journal(store)
    journal.append("T", "before")
    write_lock()
    try:
        for call in (lambda: journal.append("T", "A1"),
                     lambda: journal.append_many([{"event_type": "T", "aggregate_id": "A2"}])):
            error = bounded(call)
            assert isinstance(error, StorageError), error
            assert "busy" in str(error) and "retry" in str(error) and "\n" not in str(error)
    finally:
        store.close()
    assert count_rows(home / DB_NAME, "journal") == 1


def test_busy_database_through_the_cli_is_one_line(
        cli: Callable[..., Any], home: Path, write_lock: Callable[[], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI waits 30 s on a busy database; a 0.3 s wait here shows what the user then sees."""
    import eventsync.cli.context as context

    assert cli("events", "append", "T", "before").code == 0
    monkeypatch.setattr(context, "Store", functools.partial(Store, busy_timeout_ms=300))
    write_lock()
    result = bounded(lambda: cli("events", "append", "T", "A1"))
    assert result.code == 1
    line = one_line_error(result.err)
    assert "busy" in line and "retry" in line
    assert "database is locked" not in line


# -- a full disk between the POST and the ledger write -----------------------------------------


@pytest.mark.skipif(not can_mount(), reason="needs root and mount(8) for a tiny tmpfs")
def test_disk_full_after_the_post_then_the_next_drain_balances(
        home: Path, eventsync_bin: str) -> None:
    """The stub stores each batch and waits 0.8 s before answering; meanwhile the home's
    filesystem fills up, so the ledger write fails. The drain must say so in one line; after
    space is freed, the next drain re-posts what was not recorded and the stub answers
    `duplicate`: nothing is lost, nothing is counted twice."""
    env = {**os.environ, "EVENTSYNC_HOME": str(home)}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([eventsync_bin, *args], env=env, input=stdin, text=True,
                              capture_output=True, timeout=HANG_GUARD_SECONDS, check=False)

    with tiny_filesystem(home, "1m"), StubServer(reply_delay_ms=800) as stub:
        assert run("events", "import", "-", stdin=events_jsonl(50)).returncode == 0
        assert run("sync", "targets", "add", "s", "--type", "stub", "--url", stub.url,
                   "--activate").returncode == 0
        drainer = subprocess.Popen([eventsync_bin, "sync", "now", "--json", "--batch-size", "20"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while not stub.events():
            assert time.monotonic() < deadline, "the drainer never posted"
            time.sleep(0.02)
        filler = fill(home)
        _out, err = drainer.communicate(timeout=HANG_GUARD_SECONDS)
        if drainer.returncode:
            assert "no space" in one_line_error(err)
        recorded = sum(ledger_states(home).values())
        filler.unlink()
        rerun = run("sync", "now", "--json")
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
        assert report["attempted"] == 50 - recorded
        assert report["delivered"] + report["duplicate"] == 50 - recorded
        assert ledger_states(home) == {"success": 50 - report["duplicate"],
                                       "duplicate": report["duplicate"]}
        exactly_once(stub, 50)


# -- a ledger write that fails halfway ----------------------------------------------------------


class _FailsAtCursor:
    """A connection that has written the batch's ledger rows and then fails on the cursor."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> Any:
        if "INTO cursors" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)


def test_a_ledger_write_failing_halfway_records_nothing_and_the_next_drain_balances(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows of an attempt and the cursor move are one transaction: when the cursor write
    fails after the rows were written, none of them stays; the events are simply due again and
    the receiver's `duplicate` absorbs the second post."""
    from eventsync.delivery.dispatcher import drain
    from eventsync.delivery.ledger import Ledger
    from eventsync.delivery.sources import JournalSource
    from eventsync.delivery.targets import TargetRegistry
    from eventsync_stub.receiver import StubReceiver

    store = Store(tmp_path / DB_NAME)
    journal, ledger = Journal(store), Ledger(store)
    journal.append_many({"event_type": "T", "aggregate_id": f"A{i}"} for i in range(6))
    with StubServer() as stub:
        target = TargetRegistry(store).add("s", "stub", stub.url)
        assert target.id is not None
        real = Store.transaction

        def failing(self: Store) -> Any:
            @functools.wraps(real)
            def wrapped() -> Iterator[Any]:
                with real(self) as conn:
                    yield _FailsAtCursor(conn)
            return contextlib.contextmanager(wrapped)()

        with monkeypatch.context() as patch:
            patch.setattr(Store, "transaction", failing)
            with pytest.raises(StorageError, match="disk I/O error"):
                drain(StubReceiver(target), JournalSource(ledger, target.id), batch_size=6)
        assert count_rows(tmp_path / DB_NAME, "deliveries") == 0
        assert count_rows(tmp_path / DB_NAME, "cursors") == 0
        report = drain(StubReceiver(target), JournalSource(ledger, target.id), batch_size=6)
        assert (report.attempted, report.delivered, report.duplicate) == (6, 0, 6)
        assert ledger.counts(target.id).delivered == 6
        exactly_once(stub, 6)
    store.close()
