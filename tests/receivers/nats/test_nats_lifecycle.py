"""The nats receiver's thread and connection: one of each, for as long as a drain, no longer."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import requests
from nats_helpers import STREAM, add_target, import_events, wait_until

from eventsync.testing import make_target, sample_events
from eventsync_nats.receiver import NatsReceiver


def _named(server, name: str, state: str = "open") -> list[dict]:
    reply = requests.get(f"http://127.0.0.1:{server.monitor}/connz?state={state}&limit=1000",
                         timeout=5)
    return [c for c in reply.json().get("connections") or [] if c.get("name") == name]


def _loop_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"eventsync-nats:{name}"]


def test_one_loop_thread_and_one_connection_live_exactly_as_long_as_the_receiver(
        nats_server, home):
    server = nats_server()
    server.add_stream()
    receiver = NatsReceiver(make_target("nats", server.url, {"stream": STREAM}, name="life"))
    assert _loop_threads("life") == []

    receiver.preflight()
    for _ in range(3):
        receiver.deliver(sample_events(4))

    assert len(_loop_threads("life")) == 1
    assert len(_named(server, "eventsync:life")) == 1
    receiver.close()
    assert _loop_threads("life") == []
    wait_until(lambda: not _named(server, "eventsync:life"), what="the connection to close")
    assert len(_named(server, "eventsync:life", "closed")) == 1
    assert server.count() == 12


def test_a_drain_of_many_batches_uses_one_connection_and_leaves_none_open(cli, nats_server,
                                                                           tmp_path):
    server = nats_server()
    server.add_stream()
    add_target(cli, server)
    import_events(cli, tmp_path, 300)

    result = cli("sync", "now", "--batch-size", "10", "--json")

    assert result.code == 0, result.err
    assert result.json()["delivered"] == 300
    wait_until(lambda: not _named(server, "eventsync:js"), what="the connection to close")
    assert len(_named(server, "eventsync:js", "closed")) == 1
    assert _loop_threads("js") == []


def test_the_daemon_keeps_at_most_one_connection_per_target_and_none_after_it_stops(
        cli, nats_server, tmp_path, eventsync_bin):
    server, other = nats_server(), nats_server()
    server.add_stream()
    other.add_stream()
    add_target(cli, server, "one")
    add_target(cli, other, "two")
    import_events(cli, tmp_path, 200)
    daemon = subprocess.Popen([eventsync_bin, "sync", "daemon", "--interval", "0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: server.count() == 200 and other.count() == 200,
                   what="both streams to fill")
        import_events(cli, tmp_path, 100, prefix="more")
        seen: list[tuple[int, int]] = []

        def sample() -> bool:
            seen.append((len(_named(server, "eventsync:one")),
                         len(_named(other, "eventsync:two"))))
            return server.count() == 300 and other.count() == 300

        wait_until(sample, what="the daemon to deliver the new events")
        assert max(max(pair) for pair in seen) <= 1, seen
    finally:
        os.kill(daemon.pid, signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    assert not _named(server, "eventsync:one") and not _named(other, "eventsync:two")
    assert (server.count(), other.count()) == (300, 300)
