"""A long-running daemon holds a constant number of file descriptors (issue 15.4): every drain
round's worker threads used to leave their SQLite connections open (37 / 102 / 203 database
handles after 3 / 10 / 20 s of `sync daemon --interval 0.1`)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.processes import StubProcess, wait_until

from eventsync.home import DB_NAME
from eventsync.store import Store


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def finished_rounds(home: Path) -> int:
    """Drain jobs the daemon finished: one per round (0 until it created its table)."""
    conn = sqlite3.connect(home / DB_NAME, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def fewest_fds_over_two_rounds(pid: int, home: Path, *, after: int) -> int:
    """The daemon's descriptors at their lowest while it finishes rounds after+1 and after+2:
    a round in progress holds its workers' connections for a moment (three descriptors each
    with the WAL), a leak never goes away, so only the minimum shows a leak."""
    wait_until(lambda: finished_rounds(home) >= after, timeout=120, interval=0.05)
    seen = [open_fds(pid)]

    def two_more_rounds() -> bool:
        seen.append(open_fds(pid))
        return finished_rounds(home) >= after + 2

    wait_until(two_more_rounds, timeout=120, interval=0.02)
    return min(seen)


def test_a_store_connection_closes_when_its_thread_ends(tmp_path: Path) -> None:
    store = Store(tmp_path / DB_NAME)
    store.execute("SELECT 1")
    threads = [threading.Thread(target=store.execute, args=("SELECT 1",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.open_connections() == 1, "only the main thread's connection is left"
    store.close()
    assert store.open_connections() == 0


def test_sync_daemon_holds_a_constant_number_of_file_descriptors(
        cli: Callable[..., Any], home: Path, stub: Callable[..., StubProcess],
        eventsync_bin: str) -> None:
    server = stub()
    assert cli("events", "append", "T", "A1").code == 0
    assert cli("sync", "targets", "add", "s", "--type", "stub", "--url", server.url,
               "--activate").code == 0
    daemon = subprocess.Popen([eventsync_bin, "sync", "daemon", "--interval", "0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "EVENTSYNC_HOME": str(home)})
    try:
        # the leak was about two descriptors a round: 30 rounds would add some 60
        samples = [fewest_fds_over_two_rounds(daemon.pid, home, after=rounds)
                   for rounds in (10, 25, 40)]
        assert daemon.poll() is None, "the daemon died"
        assert samples[-1] <= samples[0] + 3, f"descriptors grew over 30 rounds: {samples}"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert server.event_ids() == [cli("events", "list", "--json").json()[0]["event_id"]]
