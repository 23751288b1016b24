"""`sync inspect EVENT_ID`: the event as stored and, per target, every attempt with its time,
outcome, detail and next attempt; where a migrated event came from."""

from __future__ import annotations

import json
import re

from cli_helpers import lines
from support.lifecycle import event, write_queue

T = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
REJECTED = "event type Bad is rejected by this stub"

FLAKY_RECEIVER = """
    import eventsync

    SEEN = set()

    class Flaky(eventsync.DeliveryReceiver):
        type_name = "flaky"

        def preflight(self):
            pass

        def deliver(self, events):
            results = []
            for e in events:
                if e.event_id in SEEN:
                    results.append(eventsync.DeliveryResult(e.event_id, "success"))
                else:
                    SEEN.add(e.event_id)
                    results.append(eventsync.DeliveryResult(
                        e.event_id, "failed_transient", "HTTP 503 from the flaky server"))
            return results

    @eventsync.hookimpl
    def register_receivers(register):
        register(Flaky)
"""


def test_every_failed_attempt_is_listed_with_its_next_attempt(cli, stub_server):
    server = stub_server(reject_types=["Bad"])
    assert cli("sync", "targets", "add", "primary", "--type", "stub", "--url", server.url,
               "--activate").code == 0
    event_id = cli("events", "append", "Bad", "WP1").out.strip()
    cli("sync", "now")
    cli("sync", "retry", "--target", "primary")  # make it due again at once
    cli("sync", "now")

    res = cli("sync", "inspect", event_id)
    assert res.code == 0, res.err
    out = lines(res.out)
    assert out[0] == f"event {event_id} (journal seq 1)"
    assert json.loads(out[1])["event_id"] == event_id
    assert re.fullmatch(rf"target primary \[stub\]: rejected after (\d) attempts; next attempt "
                        rf"{T}", out[2])
    attempts = int(re.search(r"after (\d)", out[2]).group(1))
    assert len(out) == 3 + attempts
    for n, line in enumerate(out[3:], start=1):
        assert re.fullmatch(rf"  #{n} {T} rejected: {REJECTED} \(next attempt {T}\)", line)

    data = cli("sync", "inspect", event_id.lower(), "--json").json()
    assert data["event"]["event_id"] == event_id
    [target] = data["targets"]
    assert [h["outcome"] for h in target["history"]] == ["rejected"] * attempts
    assert all(h["next_attempt_at"] > h["at"] for h in target["history"])


def test_a_success_after_a_failure_shows_both_attempts(cli, fake_plugin):
    fake_plugin("eventsync_flaky", FLAKY_RECEIVER)
    assert cli("sync", "targets", "add", "f", "--type", "flaky", "--url", "http://127.0.0.1:9",
               "--activate").code == 0
    event_id = cli("events", "append", "Step", "WP1").out.strip()
    cli("sync", "now")
    cli("sync", "retry", "--target", "f")
    cli("sync", "now")

    out = lines(cli("sync", "inspect", event_id).out)
    assert out[2] == "target f [flaky]: success after 2 attempts"
    assert re.fullmatch(rf"  #1 {T} failed_transient: HTTP 503 from the flaky server "
                        rf"\(next attempt {T}\)", out[3])
    assert re.fullmatch(rf"  #2 {T} success", out[4])
    [target] = cli("sync", "inspect", event_id, "--json").json()["targets"]
    assert (target["state"], target["attempts"], target["next_attempt_at"]) == ("success", 2, None)
    assert target["delivered_at"] is not None


def test_a_target_that_never_tried_says_so(cli, stub_server):
    assert cli("sync", "targets", "add", "later", "--type", "stub", "--url",
               stub_server().url).code == 0
    event_id = cli("events", "append", "Step", "WP1").out.strip()
    out = lines(cli("sync", "inspect", event_id).out)
    assert out[2:] == ["target later [stub]: not attempted yet"]


def test_a_migrated_event_shows_where_it_came_from(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    legacy = event("WPStatusChanged", "WP7")
    write_queue(home / "queue.db", [legacy])
    assert cli("sync", "migrate").code == 0

    out = lines(cli("sync", "inspect", legacy["event_id"]).out)
    assert re.fullmatch(rf"migrated from {re.escape(str(home / 'queue.db'))} \[offline-queue\] "
                        rf"on {T}: imported, for target unknown", out[2])
    [origin] = cli("sync", "inspect", legacy["event_id"], "--json").json()["migrated_from"]
    assert (origin["source"], origin["outcome"]) == ("offline-queue", "imported")


def test_an_unknown_id_is_one_line_and_exit_1(cli):
    res = cli("sync", "inspect", "01HZY8J6ZC4M1V3T9Q2K7XW5RB")
    assert (res.code, res.out) == (1, "")
    assert res.err == ("eventsync: error: no event '01HZY8J6ZC4M1V3T9Q2K7XW5RB' in the journal "
                       "(eventsync events list shows the newest)\n")
