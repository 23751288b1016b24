"""A read-only home, a read-only database and a full disk, made real (a tmpfs remounted read-only,
a read-only bind mount, a tiny tmpfs; root ignores chmod, so that is only the fallback for
non-root runs): every command prints one line and exits non-zero or works, nothing is half
written, and no cached counter or ledger row drifts from what is on disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    can_mount,
    count_rows,
    fill,
    one_line_error,
    remount,
    tiny_filesystem,
)

from eventsync.events import build_event
from eventsync.home import DB_NAME
from eventsync.queue.offline_queue import OfflineQueue
from eventsync_stub.server import StubServer

needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and mount(8) for a tmpfs")


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def small_home(home: Path) -> Iterator[Path]:
    """The test's EVENTSYNC_HOME on its own 512 KiB tmpfs."""
    with tiny_filesystem(home, "512k"):
        yield home


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def snapshot(home: Path) -> dict[str, int]:
    db = home / DB_NAME
    return {table: count_rows(db, table) for table in ("journal", "deliveries", "targets")}


def jsonl(path: Path, count: int, size: int = 10) -> Path:
    path.write_text("".join(json.dumps({"event_type": "T", "aggregate_id": f"A{i}",
                                        "payload": {"x": "y" * size}}) + "\n"
                            for i in range(count)), encoding="utf-8")
    return path


def assert_works_or_one_line(result: Any) -> None:
    if result.code:
        assert "internal error" not in one_line_error(result.err), result.err
    else:
        assert "Traceback" not in result.err


def make_read_only(path: Path) -> Callable[[], None]:
    """Make `path` (a mount point when we can mount, else a directory) read-only; returns undo."""
    if can_mount():
        remount(path, "ro")
        return lambda: remount(path, "rw")
    modes = {p: p.stat().st_mode for p in [path, *path.iterdir()]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)

    def undo() -> None:
        for p, mode in modes.items():
            p.chmod(mode)

    return undo


# -- read-only home ----------------------------------------------------------------------------


@pytest.fixture
def ro_home(home: Path) -> Iterator[Path]:
    """A home that can be turned read-only: a tmpfs as root, a plain directory otherwise."""
    if can_mount():
        with tiny_filesystem(home, "4m"):
            yield home
        return
    if os.geteuid() == 0:
        pytest.skip("as root without mount(8), nothing can make a directory read-only")
    yield home


def test_read_only_home_every_command_is_one_line_and_nothing_drifts(
        cli: Callable[..., Any], ro_home: Path, stub: StubServer, tmp_path: Path) -> None:
    assert cli("events", "import", str(jsonl(tmp_path / "five.jsonl", 5))).code == 0
    assert cli("sync", "targets", "add", "s", "--type", "stub", "--url", stub.url,
               "--activate").code == 0
    assert cli("sync", "now").code == 0
    assert cli("events", "append", "T", "undelivered").code == 0
    before, received = snapshot(ro_home), len(stub.events())
    (tmp_path / "legacy").mkdir()
    jsonl(tmp_path / "legacy" / "old.jsonl", 2)
    undo = make_read_only(ro_home)
    try:
        for args in (["events", "append", "T", "A9"],
                     ["events", "import", str(jsonl(tmp_path / "more.jsonl", 3))],
                     ["events", "list", "--json"], ["sync", "now", "--json"],
                     ["sync", "status", "--json"], ["sync", "targets", "list"],
                     ["sync", "targets", "add", "t", "--type", "stub", "--url", stub.url + "/x"],
                     ["sync", "targets", "remove", "s", "--forget-ledger"],
                     ["sync", "retry", "--target", "s", "--failed"],
                     ["sync", "gc", "--dry-run"], ["sync", "config", "show"],
                     ["sync", "archive", "--to", str(tmp_path / "archive.jsonl")],
                     ["sync", "migrate", str(tmp_path / "legacy")], ["plugins", "--json"]):
            assert_works_or_one_line(cli(*args))
    finally:
        undo()
    assert snapshot(ro_home) == before
    assert len(stub.events()) == received
    assert integrity(ro_home / DB_NAME) == "ok"
    # and once the home is writable again, everything carries on
    assert cli("sync", "now", "--json").json()["delivered"] == 1


def test_config_set_on_a_read_only_home_is_one_line(cli: Callable[..., Any],
                                                    ro_home: Path) -> None:
    assert cli("sync", "config", "set", "delivery.batch_size", "7").code == 0
    undo = make_read_only(ro_home)
    try:
        result = cli("sync", "config", "set", "delivery.batch_size", "9")
    finally:
        undo()
    assert result.code == 1
    assert "internal error" not in one_line_error(result.err)


# -- read-only database file -------------------------------------------------------------------


@pytest.fixture
def read_only_db(cli: Callable[..., Any], home: Path) -> Iterator[Path]:
    """eventsync.db read-only while its directory stays writable (a read-only bind mount)."""
    assert cli("events", "append", "T", "A1").code == 0
    db = home / DB_NAME
    if can_mount():
        subprocess.run(["mount", "--bind", str(db), str(db)], check=True)
        try:
            remount(db, "ro,bind")
            yield db
        finally:
            subprocess.run(["umount", "-l", str(db)], check=False)
        return
    if os.geteuid() == 0:
        pytest.skip("as root without mount(8), nothing can make a file read-only")
    db.chmod(0o444)
    yield db
    db.chmod(0o644)


def test_read_only_database_refuses_writes_in_one_line_and_still_reads(
        cli: Callable[..., Any], home: Path, read_only_db: Path) -> None:
    result = cli("events", "append", "T", "A2")
    assert result.code == 1
    assert "read-only" in one_line_error(result.err)
    listed = cli("events", "list", "--json")
    assert listed.code == 0 and [e["aggregate_id"] for e in listed.json()] == ["A1"]
    assert count_rows(read_only_db, "journal") == 1


# -- full disk ----------------------------------------------------------------------------------


@needs_mount
def test_disk_full_import_is_one_line_writes_nothing_and_recovers(
        cli: Callable[..., Any], small_home: Path, tmp_path: Path) -> None:
    assert cli("events", "append", "T", "A0").code == 0
    big = jsonl(tmp_path / "big.jsonl", 800, size=1_000)
    result = cli("events", "import", str(big))
    assert result.code == 1
    assert "no space" in one_line_error(result.err)
    assert count_rows(small_home / DB_NAME, "journal") == 1
    assert integrity(small_home / DB_NAME) == "ok"
    result = cli("events", "import", str(jsonl(tmp_path / "small.jsonl", 20)))
    assert result.code == 0 and count_rows(small_home / DB_NAME, "journal") == 21


@needs_mount
def test_disk_full_offline_queue_counter_matches_the_disk(small_home: Path) -> None:
    """`queue_event` says False on a full disk and the cached row count never counts a row
    that was not committed."""
    queue = OfflineQueue(small_home / "queue.db", max_queue_size=100_000)
    try:
        filler = fill(small_home)
        results = [queue.queue_event(build_event({"event_type": "T", "aggregate_id": f"A{i}",
                                                  "payload": {"x": "y" * 500}}))
                   for i in range(300)]
        assert False in results
        assert queue.size() == queue._size_from_disk() == results.count(True)
        filler.unlink()
        assert queue.queue_event({"event_type": "T", "aggregate_id": "after", "payload": {}})
        assert queue.size() == queue._size_from_disk() == results.count(True) + 1
    finally:
        queue.close()
