"""Commands that only look (`sync status`, `events list`, `sync targets list`, `sync inspect`,
`sync config show`, `sync gc --dry-run`) work where nothing can be written: a read-only home
(a tmpfs remounted read-only), a full disk (a tiny tmpfs filled to the last byte), and a home
that does not exist yet, which they leave uncreated. Before the store had a read-only mode each
of them failed in one line there: every open took the write lock to check the schema."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import can_mount, count_rows, fill, remount, tiny_filesystem

from eventsync.delivery.ledger import SCHEMA as LEDGER
from eventsync.errors import StorageError
from eventsync.home import DB_NAME
from eventsync.journal.journal import SCHEMA as JOURNAL
from eventsync.journal.journal import Journal
from eventsync.store import Store
from eventsync.work.queue import SCHEMA as JOBS
from eventsync_stub.server import StubServer

needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and mount(8) for a tmpfs")


@pytest.fixture
def delivered_home(cli: Callable[..., Any], home: Path, tmp_path: Path) -> Iterator[Path]:
    """A home on its own 4 MiB tmpfs: five events delivered to target `s`, one not yet."""
    lines = "".join(json.dumps({"event_type": "T", "aggregate_id": f"A{i}", "payload": {}}) + "\n"
                    for i in range(5))
    (tmp_path / "five.jsonl").write_text(lines, encoding="utf-8")
    with tiny_filesystem(home, "4m"), StubServer() as stub:
        assert cli("events", "import", str(tmp_path / "five.jsonl")).code == 0
        assert cli("sync", "targets", "add", "s", "--type", "stub", "--url", stub.url,
                   "--activate").code == 0
        assert cli("sync", "now").code == 0
        assert cli("events", "append", "T", "undelivered").code == 0
        yield home


def assert_reads_everything(cli: Callable[..., Any]) -> None:
    status = cli("sync", "status", "--json")
    assert status.code == 0, status.err
    report = status.json()
    assert report["journal"]["events"] == 6
    assert [(t["name"], t["delivered"], t["pending"]) for t in report["targets"]] == [("s", 5, 1)]
    listed = cli("events", "list", "--json")
    assert listed.code == 0, listed.err
    assert [e["aggregate_id"] for e in listed.json()] == [*(f"A{i}" for i in range(5)),
                                                          "undelivered"]
    targets = cli("sync", "targets", "list", "--json")
    assert targets.code == 0, targets.err
    assert [t["name"] for t in targets.json()] == ["s"]
    inspected = cli("sync", "inspect", listed.json()[0]["event_id"], "--json")
    assert inspected.code == 0, inspected.err
    shown = cli("sync", "config", "show")
    assert shown.code == 0, shown.err
    preview = cli("sync", "gc", "--policy", "delivered-everywhere", "--dry-run", "--json")
    assert preview.code == 0, preview.err
    assert preview.json()["dry_run"] is True


@needs_mount
def test_read_only_home_still_answers_every_read_only_command(
        cli: Callable[..., Any], delivered_home: Path) -> None:
    remount(delivered_home, "ro")
    try:
        assert_reads_everything(cli)
    finally:
        remount(delivered_home, "rw")
    assert count_rows(delivered_home / DB_NAME, "journal") == 6


@needs_mount
def test_full_disk_still_answers_every_read_only_command(
        cli: Callable[..., Any], delivered_home: Path) -> None:
    filler = fill(delivered_home)
    try:
        assert cli("events", "append", "T", "no-room", "--payload",
                   json.dumps({"x": "y" * 100_000})).code == 1
        assert_reads_everything(cli)
    finally:
        filler.unlink()
    assert cli("sync", "now", "--json").json()["delivered"] == 1


@needs_mount
def test_a_component_the_file_never_held_reads_as_empty_on_a_read_only_home(
        cli: Callable[..., Any], home: Path) -> None:
    """A journal that has never been drained has no work-queue or target tables yet."""
    with tiny_filesystem(home, "4m"):
        assert cli("events", "append", "T", "A1").code == 0
        remount(home, "ro")
        try:
            status = cli("sync", "status", "--json")
            targets = cli("sync", "targets", "list", "--json")
        finally:
            remount(home, "rw")
    assert status.code == 0, status.err
    assert status.json()["journal"]["events"] == 1 and status.json()["work"]["total"] == 0
    assert targets.code == 0 and targets.json() == []


@needs_mount
def test_retention_off_status_reads_the_offline_queue_on_a_read_only_home(
        cli: Callable[..., Any], home: Path) -> None:
    """With retention off, events wait in the target's spec-kitty queue file, which status
    reads too: opening it as a queue would migrate it and fail on a read-only home."""
    with tiny_filesystem(home, "4m"):
        assert cli("sync", "config", "set", "retention.enabled", "false").code == 0
        assert cli("sync", "targets", "add", "s", "--type", "stub", "--url",
                   "http://127.0.0.1:9", "--activate").code == 0
        for name in ("A1", "A2"):
            assert cli("events", "append", "T", name).code == 0
        remount(home, "ro")
        try:
            status = cli("sync", "status", "--json")
        finally:
            remount(home, "rw")
    assert status.code == 0, status.err
    queue = status.json()["queue"]
    assert queue["events"] == 2 and Path(queue["path"]).parent.name == "queues"


def test_looking_at_a_home_that_does_not_exist_creates_nothing(
        cli: Callable[..., Any], home: Path) -> None:
    assert not home.exists()
    status = cli("sync", "status", "--json")
    assert status.code == 0 and status.json()["journal"]["events"] == 0
    assert cli("events", "list", "--json").json() == []
    assert cli("sync", "targets", "list", "--json").json() == []
    assert not home.exists()


WRITER = """
import sys
from eventsync.journal.journal import Journal
journal = Journal.open(sys.argv[1])
for i in range(200):
    journal.append("T", f"A{i}")
print("committed", flush=True)
sys.stdin.read()
"""


def test_commands_that_only_look_see_what_a_killed_writer_committed(
        cli: Callable[..., Any], home: Path) -> None:
    """kill -9 leaves the last commits in the WAL with no checkpoint: a reader that opened the
    file `immutable` would not see them."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(home)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "committed\n"
        assert (home / f"{DB_NAME}-wal").stat().st_size > 0
    finally:
        writer.kill()
        writer.wait()
    status = cli("sync", "status", "--json")
    assert status.code == 0 and status.json()["journal"]["events"] == 200
    listed = cli("events", "list", "--limit", "1000", "--json")
    assert [e["aggregate_id"] for e in listed.json()] == [f"A{i}" for i in range(200)]


def test_read_only_store_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with Store(path) as store:
        Journal(store).append("T", "A1")
    before = path.read_bytes()
    with Store(path, read_only=True) as store:
        for schema in (JOURNAL, LEDGER, JOBS):
            store.ensure(schema)
        assert [r.event.aggregate_id for r in Journal(store).tail(5)] == ["A1"]
        assert store.conn.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)
        with pytest.raises(StorageError, match="is read-only"):
            Journal(store).append("T", "A2")
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "jobs" not in names


def test_opening_an_up_to_date_store_takes_no_write_lock(tmp_path: Path) -> None:
    """Every command opens the store; while another process holds the write lock (a long
    import), a reader must not wait for it just to learn the schema is current."""
    path = tmp_path / DB_NAME
    with Store(path) as store:
        Journal(store).append("T", "A1")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with Store(path, busy_timeout_ms=50) as store:
            assert [r.event.aggregate_id for r in Journal(store).tail(5)] == ["A1"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
