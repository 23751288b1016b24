"""A damaged target row and the secrets in a target's URL, as the work queue sees them (issue 15,
items 3 and 9): a URL that cannot be parsed is one line about that target while the others are
drained, `sync now` returns promptly and its job is never queued again and again; drain jobs
name their target and never hold its URL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability_helpers import count_rows
from support.processes import StubProcess

from eventsync.home import DB_NAME
from eventsync.store import Store
from eventsync.work import WorkQueue

DAMAGED = "http://u:p@[::1"


def run_cli(eventsync_bin: str, home: Path, *args: str, timeout: float = 60
            ) -> tuple[subprocess.CompletedProcess[str], float]:
    """A real `eventsync` process; how long it took, so a hang fails the test instead of it."""
    started = time.monotonic()
    done = subprocess.run([eventsync_bin, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "EVENTSYNC_HOME": str(home)})
    return done, time.monotonic() - started


def plant_damaged_target(home: Path, name: str = "bad") -> None:
    """What `targets add` would refuse, written straight into the table (an old version's row,
    a hand edit, a bit flip)."""
    conn = sqlite3.connect(home / DB_NAME)
    with conn:
        conn.execute("INSERT INTO targets (name, type, url, options, identity, created_at)"
                     " VALUES (?, 'stub', ?, '{}', ?, 0)", (name, DAMAGED, f"stub:{name}"))
    conn.close()


def job_rows(home: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / DB_NAME)
    try:
        return conn.execute("SELECT key, payload, state, last_error FROM jobs ORDER BY id"
                            ).fetchall()
    finally:
        conn.close()


def test_a_damaged_target_is_one_line_the_rest_drain_and_nothing_loops(
        cli: Callable[..., Any], home: Path, stub: Callable[..., StubProcess],
        eventsync_bin: str) -> None:
    server = stub()
    assert cli("events", "append", "T", "A1").code == 0
    assert cli("sync", "targets", "add", "good", "--type", "stub", "--url", server.url).code == 0
    plant_damaged_target(home)
    done, took = run_cli(eventsync_bin, home, "sync", "now", "--all")
    assert done.returncode == 1, done.stderr
    assert took < 20, f"sync now --all took {took:.1f}s"
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("eventsync: error: drain of bad failed: "), line
    assert "u:p@" not in line
    assert "good: 1 attempted, 1 delivered" in done.stdout
    assert server.event_ids() == [cli("events", "list", "--json").json()[0]["event_id"]]
    done, took = run_cli(eventsync_bin, home, "sync", "now", "--target", "bad")
    assert done.returncode == 1 and took < 20
    bad_jobs = [row for row in job_rows(home) if row[0] == "drain:bad"]
    assert [row[2] for row in bad_jobs] == ["error", "error"], "one job per run, never more"


def test_drain_jobs_name_their_target_and_never_hold_its_url(
        cli: Callable[..., Any], home: Path, stub: Callable[..., StubProcess],
        eventsync_bin: str) -> None:
    server = stub()
    password, secret = "hunter2-pass-7731", "s3cr3t-query-0042"
    url = server.url.replace("http://", f"http://alice:{password}@") + f"/?token={secret}"
    assert cli("events", "append", "T", "A1").code == 0
    assert cli("sync", "targets", "add", "s", "--type", "stub", "--url", url,
               "--activate").code == 0
    done, _ = run_cli(eventsync_bin, home, "sync", "now")
    assert done.returncode == 0, done.stderr
    rows = job_rows(home)
    assert [(key, json.loads(payload)) for key, payload, *_ in rows] == [
        ("drain:s", {"target": "s"})]
    assert cli("sync", "targets", "remove", "s", "--forget-ledger").code == 0
    for row in job_rows(home):
        assert password not in repr(row) and secret not in repr(row)
    assert count_rows(home / DB_NAME, "jobs") == 1


def test_job_rows_written_with_a_url_forget_it_on_upgrade(home: Path) -> None:
    """Rows an older version wrote (payload with the raw URL) are scrubbed by the migration."""
    home.mkdir(parents=True)
    db = home / DB_NAME
    with WorkQueue(db) as queue:
        assert queue.enqueue("drain:stub:http://127.0.0.1:9",
                             {"target": "s", "url": "http://u:hunter2@127.0.0.1:9/?token=x"})
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE schema_version SET version = 2 WHERE component = 'jobs'")
    conn.close()
    with WorkQueue(db):
        pass
    assert [json.loads(row[1]) for row in job_rows(home)] == [{"target": "s"}]
    with Store(db) as store:
        assert store.execute("SELECT version FROM schema_version WHERE component = 'jobs'"
                             ).fetchone()[0] == 3
