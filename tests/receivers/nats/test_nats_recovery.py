"""Exactly once across failures: a `sync now` killed mid-drain, a server restarted mid-drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter

from nats_helpers import add_target, import_events, wait_until

EVENTS = 10_000
BATCH = 250


def _assert_each_event_once(cli, server, total: int) -> None:
    stored = server.messages()
    ids = Counter(m.msg_id for m in stored)
    listed = {e["event_id"] for e in cli("events", "list", "--limit", str(total),
                                         "--json").json()}
    assert len(stored) == total, f"{len(stored)} messages for {total} events"
    assert set(ids.values()) == {1} and set(ids) == listed


def test_kill_9_mid_drain_then_a_rerun_leaves_each_event_in_the_stream_exactly_once(
        cli, nats_server, tmp_path, eventsync_bin, capfd):
    server = nats_server()
    server.add_stream()
    add_target(cli, server)
    import_events(cli, tmp_path, EVENTS)
    drain = subprocess.Popen([eventsync_bin, "sync", "now", "--batch-size", str(BATCH)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill mid-drain: the batch in flight has acks the ledger has not recorded yet
        wait_until(lambda: server.count() >= EVENTS // 4, timeout=60,
                   what="the drain to be well under way")
    finally:
        os.kill(drain.pid, signal.SIGKILL)
        drain.wait(timeout=30)
    at_kill = server.count()
    recorded = cli("sync", "status", "--json").json()["targets"][0]["delivered"]
    assert 0 < at_kill < EVENTS, "the kill must land mid-drain"

    rerun = cli("sync", "now", "--json")

    assert rerun.code == 0, rerun.err
    report = rerun.json()
    with capfd.disabled():
        print(f"\ncrash test: {EVENTS} events; stream held {at_kill} at kill -9, ledger had "
              f"{recorded} recorded; re-run: {report['attempted']} attempted, "
              f"{report['delivered']} delivered, {report['duplicate']} duplicate; "
              f"stream now {server.count()}")
    assert report["delivered"] + report["duplicate"] == EVENTS - recorded
    assert report["duplicate"] == at_kill - recorded
    _assert_each_event_once(cli, server, EVENTS)


def test_a_server_restart_mid_drain_is_recovered_without_operator_action(
        cli, nats_server, tmp_path, eventsync_bin, capfd):
    server = nats_server()
    server.add_stream()
    add_target(cli, server)
    import_events(cli, tmp_path, EVENTS)
    drain = subprocess.Popen([eventsync_bin, "sync", "now", "--batch-size", str(BATCH), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: server.count() >= EVENTS // 4, timeout=60,
                   what="the drain to be well under way")
        server.restart()
        out, err = drain.communicate(timeout=120)
    finally:
        if drain.poll() is None:
            os.kill(drain.pid, signal.SIGKILL)
            drain.wait(timeout=30)

    assert drain.returncode == 0, err
    report = json.loads(out)
    with capfd.disabled():
        print(f"\nrestart test: {report}")
    assert report["delivered"] + report["duplicate"] == EVENTS
    assert report["retrying"] == 0 and report["terminal_failed"] == 0
    _assert_each_event_once(cli, server, EVENTS)
