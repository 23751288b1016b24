"""Coalescing beside a drain in another process: an event in flight is immutable (issue 15.5).

A drain pins a batch in the database when it selects it, before the POST; a producer in another
process that appends a coalescible successor meanwhile must find the pin and leave the posted
event's stored bytes alone, and every other target must later receive exactly those bytes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from support.processes import wait_until

from eventsync.home import DB_NAME

STATUS = "WPStatusChanged"
REPLY_DELAY_MS = "6000"  # long enough for a second process to append while the POST waits


def stored_body(home: Path, event_id: str) -> str | None:
    conn = sqlite3.connect(home / DB_NAME)
    try:
        return conn.execute("SELECT body FROM journal WHERE event_id = ?",
                            (event_id,)).fetchone()[0]
    finally:
        conn.close()


def test_an_event_in_flight_keeps_its_bytes_and_reaches_every_target(cli, stub, home,
                                                                      eventsync_bin):
    slow, other = stub("--reply-delay-ms", REPLY_DELAY_MS), stub()
    assert cli("sync", "config", "set", "coalesce.types", STATUS).code == 0
    first = cli("events", "append", STATUS, "WP01", "--payload", '{"to": "doing"}')
    event_id = first.out.strip()
    before = stored_body(home, event_id)
    assert before is not None
    for name, server in (("slow", slow), ("other", other)):
        assert cli("sync", "targets", "add", name, "--type", "stub", "--url", server.url).code == 0

    drain = subprocess.Popen([eventsync_bin, "sync", "now", "--target", "slow", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: event_id in slow.event_ids())  # stored, its answer held back
        successor = subprocess.run(
            [eventsync_bin, "events", "append", STATUS, "WP01", "--payload", '{"to": "done"}'],
            capture_output=True, text=True, timeout=60)
        assert successor.returncode == 0, successor.stderr
        assert drain.poll() is None, "the append must land while the POST is still in flight"
        assert stored_body(home, event_id) == before
        out, err = drain.communicate(timeout=60)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
    assert drain.returncode == 0, err
    assert json.loads(out)["delivered"] == 1

    assert stored_body(home, event_id) == before, "a delivered event's bytes never change"
    report = cli("sync", "now", "--target", "other", "--json")
    assert report.code == 0, report.err
    sent = {e["event_id"]: e for e in slow.events()}
    got = {e["event_id"]: e for e in other.events()}
    assert got[event_id] == sent[event_id] == json.loads(before)
    assert successor.stdout.strip() in got
