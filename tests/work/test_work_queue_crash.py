"""Drains on the work queue, end to end with real processes: `kill -9` at any point loses and
doubles nothing, two `sync now` never post one target at once, `--all`, and the daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from support.processes import StubProcess, wait_until
from work_helpers import jsonl, rows

from eventsync.work.queue import now_ms

EVENTS = 50
SETTLE = 0.5  # a stub may still store the body of a request whose client was just killed


def sync_now(eventsync_bin: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([eventsync_bin, "sync", "now", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "database is locked" not in err, err
    return json.loads(out)


def target_status(cli: Callable[..., Any], name: str) -> dict[str, Any]:
    status = cli("sync", "status", "--json").json()
    return next(t for t in status["targets"] if t["name"] == name)


def work_stats(cli: Callable[..., Any]) -> dict[str, int]:
    return cli("sync", "status", "--json").json()["work"]


def setup_target(cli: Callable[..., Any], server: StubProcess, count: int = EVENTS,
                 name: str = "main") -> list[str]:
    assert cli("events", "import", "-", stdin=jsonl(count)).code == 0
    assert cli("sync", "targets", "add", name, "--type", "stub", "--url", server.url,
               "--activate").code == 0
    return [e["event_id"] for e in cli("events", "list", "--limit", "10000", "--json").json()]


def assert_exactly_once(server: StubProcess, journal: list[str]) -> None:
    received = server.event_ids()
    assert [i for i, n in Counter(received).items() if n > 1] == []
    assert sorted(received) == sorted(journal)


def kill_then_rerun(cli: Callable[..., Any], eventsync_bin: str, server: StubProcess,
                    journal: list[str], kill: Callable[[subprocess.Popen[str]], None],
                    batch_size: int = 10) -> None:
    """Kill a drainer wherever `kill` decides, rerun, and check the books balance exactly:
    what the stub holds but the ledger lacks is re-posted and answered `duplicate`."""
    proc = sync_now(eventsync_bin, "--batch-size", str(batch_size))
    kill(proc)
    proc.kill()
    proc.wait()
    time.sleep(SETTLE)
    held = len(server.event_ids())
    recorded = target_status(cli, "main")["delivered"]
    assert recorded <= held
    report = finish(sync_now(eventsync_bin))
    assert report == {"target": "main", "attempted": len(journal) - recorded,
                      "delivered": len(journal) - held, "duplicate": held - recorded,
                      "retrying": 0, "terminal_failed": 0, "remaining": 0, "stopped": None,
                      "last_error": None}
    assert_exactly_once(server, journal)
    status = target_status(cli, "main")
    assert (status["delivered"], status["pending"], status["retrying"],
            status["terminal_failed"]) == (len(journal), 0, 0, 0)
    work = work_stats(cli)
    assert (work["in_progress"], work["queued"], work["error"]) == (0, 0, 0)


def test_kill_after_the_post_before_the_ledger_write(cli, eventsync_bin, stub, home) -> None:
    server = stub("--reply-delay-ms", "300")
    journal = setup_target(cli, server)
    left_behind: dict[str, Any] = {}

    def during_reply_delay(proc: subprocess.Popen[str]) -> None:
        wait_until(lambda: server.batch_requests() >= 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left_behind.update(held=len(server.event_ids()),
                           recorded=target_status(cli, "main")["delivered"],
                           work=work_stats(cli),
                           leases=rows(home / "eventsync.db", "SELECT lease_expires_at FROM jobs"
                                       " WHERE state = 'in_progress'"))

    kill_then_rerun(cli, eventsync_bin, server, journal, during_reply_delay)
    assert left_behind["held"] == 20
    assert left_behind["recorded"] == 10, "the kill must land after the POST, before the record"
    assert left_behind["work"]["in_progress"] == 1, "the dead drainer's lease is left behind"
    [(dead_lease_expiry,)] = left_behind["leases"]
    assert now_ms() < dead_lease_expiry, "the rerun reclaimed the dead lease, not waited it out"


def test_repeated_kills_mid_batch_then_a_clean_run(cli, eventsync_bin, stub, home) -> None:
    server = stub("--reply-delay-ms", "300")
    journal = setup_target(cli, server)
    for _ in range(3):
        before = server.batch_requests()
        proc = sync_now(eventsync_bin, "--batch-size", "10")
        wait_until(lambda before=before: server.batch_requests() > before)
        proc.kill()
        proc.wait()
    assert target_status(cli, "main")["delivered"] == 0
    assert len(server.event_ids()) == 10
    report = finish(sync_now(eventsync_bin, "--batch-size", "10"))
    assert (report["attempted"], report["delivered"], report["duplicate"]) == (50, 40, 10)
    assert_exactly_once(server, journal)
    newest = rows(home / "eventsync.db",
                  "SELECT state, attempts FROM jobs WHERE key LIKE 'drain:%' ORDER BY id")
    assert newest[-1] == ("done", 4), "each kill left a lease that the next run reclaimed"


@pytest.mark.parametrize("after", [0.0, 0.2, 0.4])
def test_kill_right_after_start(cli, eventsync_bin, stub, after: float) -> None:
    server = stub("--reply-delay-ms", "100")
    journal = setup_target(cli, server)
    kill_then_rerun(cli, eventsync_bin, server, journal, lambda proc: time.sleep(after))


def test_kill_mid_stream_with_small_batches(cli, eventsync_bin, stub) -> None:
    server = stub("--latency-ms", "20")
    journal = setup_target(cli, server, count=60)

    def once_a_third_is_through(proc: subprocess.Popen[str]) -> None:
        wait_until(lambda: len(server.event_ids()) >= 20)

    kill_then_rerun(cli, eventsync_bin, server, journal, once_a_third_is_through, batch_size=3)


def test_two_sync_now_for_one_target_never_post_concurrently(cli, eventsync_bin, stub) -> None:
    """Had both drained at once, both would have posted the same due events: more batch
    requests than the events need, and `duplicate` answers. Both must still be running while
    the first batch is in flight, or the check would prove nothing."""
    server = stub("--reply-delay-ms", "200")
    journal = setup_target(cli, server, count=60)
    procs = [sync_now(eventsync_bin, "--batch-size", "10") for _ in range(2)]
    wait_until(lambda: server.batch_requests() >= 1)
    assert [proc.poll() for proc in procs] == [None, None]
    reports = [finish(proc) for proc in procs]
    assert sum(r["delivered"] for r in reports) == 60
    assert sum(r["duplicate"] for r in reports) == 0
    assert sum(r["attempted"] for r in reports) == 60
    assert server.batch_requests() == 6
    assert_exactly_once(server, journal)
    assert target_status(cli, "main")["delivered"] == 60


def test_sync_now_all_drains_every_target(cli, eventsync_bin, stub) -> None:
    first, second = stub("--reply-delay-ms", "50"), stub("--reply-delay-ms", "50")
    journal = setup_target(cli, first, count=30, name="first")
    assert cli("sync", "targets", "add", "second", "--type", "stub", "--url",
               second.url).code == 0
    proc = subprocess.Popen([eventsync_bin, "sync", "now", "--all", "--json", "--batch-size",
                             "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = finish(proc)
    assert sorted((r["target"], r["attempted"], r["delivered"], r["duplicate"])
                  for r in reports) == [("first", 30, 30, 0), ("second", 30, 30, 0)]
    assert_exactly_once(first, journal)
    assert_exactly_once(second, journal)
    assert [target_status(cli, name)["delivered"] for name in ("first", "second")] == [30, 30]
    work = work_stats(cli)
    assert (work["done"], work["in_progress"], work["queued"]) == (2, 0, 0)


def test_daemon_delivers_new_events_and_stops_on_sigterm(cli, eventsync_bin, stub) -> None:
    server = stub()
    journal = setup_target(cli, server, count=10)
    daemon = subprocess.Popen([eventsync_bin, "sync", "daemon", "--interval", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(server.event_ids()) == 10)
        assert cli("events", "import", "-", stdin=jsonl(5, prefix="NEW")).code == 0
        wait_until(lambda: len(server.event_ids()) == 15)
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=20)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert "eventsync daemon: stopped" in err
    assert "Traceback" not in err
    journal = [e["event_id"] for e in cli("events", "list", "--limit", "100", "--json").json()]
    assert_exactly_once(server, journal)
    assert target_status(cli, "main")["delivered"] == 15
