"""A target's `timeout` bounds the whole request (issue 15 item 1): a server that sends its
headers, then one byte a second, must not keep a drain, nor `sync now`, running past it."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from support.dripping import DrippingServer
from support.events import make_events
from support.processes import wait_until
from support.receivers import ledger_details
from support.spec_kitty import envelope_325

import eventsync
from eventsync import DeliveryStatus as S

BATCH = "/api/v1/events/batch/"


def test_a_dripping_answer_ends_at_the_total_timeout():
    with DrippingServer(interval=0.2) as server:
        client = eventsync.BatchClient(server.url + BATCH, timeout=1.0)
        started = time.monotonic()
        results = client.post_batch(make_events(3))
        elapsed = time.monotonic() - started
        client.close()
    assert {r.status for r in results} == {S.FAILED_TRANSIENT}
    assert results[0].detail == "read timeout after 1s"
    assert 0.9 < elapsed < 3.0
    assert server.posts == 1


def test_the_connection_is_usable_again_after_a_cut(stub_server):
    with DrippingServer(interval=0.2) as slow:
        client = eventsync.BatchClient(slow.url + BATCH, timeout=0.5)
        client.post_batch(make_events(1))
        client.close()
    server = stub_server()
    client = eventsync.BatchClient(server.url + BATCH, timeout=0.5)
    for _ in range(3):  # many short requests: no deadline of an earlier one cuts a later one
        assert {r.status for r in client.post_batch(make_events(2))} <= {S.SUCCESS, S.DUPLICATE}
    client.close()


def test_a_plain_request_obeys_the_deadline_too():
    with DrippingServer(interval=0.2) as server:
        client = eventsync.BatchClient(server.url + BATCH, timeout=0.6)
        started = time.monotonic()
        reply = client.call("POST", BATCH, data=b"{}")
        elapsed = time.monotonic() - started
        client.close()
    assert reply.status == 0 and "timeout after 0.6s" in reply.detail
    assert elapsed < 2.5


# what /api/v1/me (and the health probe) of the dripping server answer: a Private Teamspace
ME = {"teams": [{"id": "team-private-1", "is_private_teamspace": True}]}


@pytest.mark.parametrize(("kind", "options"), [
    ("stub", ()),
    ("external", ("--option", "format=batch")),
    ("teamspace", ()),
])
def test_sync_now_returns_within_the_timeout(eventsync_bin, cli, home, tmp_path, monkeypatch,
                                             kind, options):
    """A real `sync now` subprocess against the dripping server, and a second one started
    while it waits: both end within about the target's timeout, the events kept. The setup
    runs in-process (the same commands, without two seconds of process start-ups)."""
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "1")
    with DrippingServer(get_body=ME) as server:
        url = server.url + (BATCH if kind == "external" else "")

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([eventsync_bin, *args], capture_output=True, text=True,
                                  timeout=60, check=False)

        added = cli("sync", "targets", "add", "slow", "--type", kind, "--url", url,
                    "--option", "timeout=2", *options, "--activate")
        assert added.code == 0, added.err
        # a backoff no busy machine outlasts: the second run must find the events waiting
        assert cli("sync", "config", "set", "retry.base_seconds", "600").code == 0
        if kind == "teamspace":
            assert cli("auth", "set-token", "slow", stdin="tok-1").code == 0
        lines = tmp_path / "envelopes.jsonl"  # spec-kitty's, which every receiver here posts
        lines.write_text("".join(json.dumps(envelope_325()) + "\n" for _ in range(3)))
        assert cli("events", "import", str(lines)).code == 0
        started = time.monotonic()
        first = subprocess.Popen([eventsync_bin, "sync", "now", "--json"], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: server.posts == 1)
        second = run("sync", "now", "--json")
        out, err = first.communicate(timeout=60)
        elapsed = time.monotonic() - started
    # the 2 s budget plus two process start-ups on a busy machine; without the deadline the
    # drip (100,000 bytes at one a second) would run into the 60 s subprocess timeout
    assert elapsed < 2 + 13, (elapsed, err, second.stderr)
    assert first.returncode == 0 and json.loads(out)["retrying"] == 3, (out, err, second.stdout)
    assert second.returncode == 0, second.stderr
    assert server.posts == 1  # the second run found every event waiting on its backoff
    assert set(ledger_details(home)) == {"read timeout after 2s"}
    status = cli("sync", "status", "--json").json()["targets"][0]
    assert (status["delivered"], status["retrying"]) == (0, 3)
