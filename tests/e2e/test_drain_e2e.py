"""The delivery spine through the CLI against real stub receivers on loopback."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter


def jsonl(items: list[dict]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


def events(n: int, prefix: str = "WP") -> list[dict]:
    return [{"event_type": "WPStatusChanged", "aggregate_id": f"{prefix}{i:03d}",
             "payload": {"step": i}} for i in range(n)]


def appended_ids(cli) -> list[str]:
    return [e["event_id"] for e in cli("events", "list", "--limit", "10000", "--json").json()]


def target_status(cli, name: str) -> dict:
    status = cli("sync", "status", "--json").json()
    return next(t for t in status["targets"] if t["name"] == name)


def test_first_drain_delivers_every_event_once(cli, stub):
    server = stub()
    assert cli("events", "import", "-", stdin=jsonl(events(120))).out.strip() == "120"
    assert cli("sync", "targets", "add", "main", "--type", "stub", "--url", server.url,
               "--activate").code == 0
    result = cli("sync", "now", "--json", "--batch-size", "50")
    assert result.code == 0, result.err
    assert result.json() == {"target": "main", "attempted": 120, "delivered": 120,
                             "duplicate": 0, "retrying": 0, "terminal_failed": 0,
                             "remaining": 0, "stopped": None, "last_error": None}
    received = [e["event_id"] for e in server.events()]
    assert sorted(received) == sorted(appended_ids(cli))
    status = target_status(cli, "main")
    assert (status["delivered"], status["pending"], status["retrying"],
            status["terminal_failed"]) == (120, 0, 0, 0)
    again = cli("sync", "now", "--json").json()
    assert again["attempted"] == 0


def test_redrain_to_a_new_target_leaves_the_first_untouched(cli, stub):
    first, second = stub(), stub()
    cli("events", "import", "-", stdin=jsonl(events(40)))
    cli("sync", "targets", "add", "first", "--type", "stub", "--url", first.url, "--activate")
    assert cli("sync", "now", "--json").json()["delivered"] == 40
    before = target_status(cli, "first")
    cli("sync", "targets", "add", "second", "--type", "stub", "--url", second.url)
    report = cli("sync", "now", "--target", "second", "--json").json()
    assert report["target"] == "second" and report["delivered"] == 40
    assert {e["event_id"] for e in second.events()} == set(appended_ids(cli))
    assert target_status(cli, "first") == before
    assert len(first.events()) == 40


def test_full_redrain_after_reset_gets_duplicate_answers(cli, stub):
    server = stub()
    cli("events", "import", "-", stdin=jsonl(events(25)))
    cli("sync", "targets", "add", "main", "--type", "stub", "--url", server.url, "--activate")
    cli("sync", "now")
    assert cli("sync", "retry", "--target", "main", "--all").code == 0
    report = cli("sync", "now", "--json").json()
    assert (report["attempted"], report["delivered"], report["duplicate"]) == (25, 0, 25)
    assert len(server.events()) == 25
    assert target_status(cli, "main")["delivered"] == 25


def test_oversize_event_is_terminal_failed_and_the_rest_delivered(cli, stub):
    server = stub("--max-event-bytes", "2000")
    batch = events(30)
    batch.insert(10, {"event_type": "Big", "aggregate_id": "X", "payload": {"blob": "z" * 5000}})
    cli("events", "import", "-", stdin=jsonl(batch))
    cli("sync", "targets", "add", "main", "--type", "stub", "--url", server.url, "--activate")
    report = cli("sync", "now", "--json").json()
    assert (report["delivered"], report["terminal_failed"]) == (30, 1)
    assert "Big" not in {e["event_type"] for e in server.events()}
    status = target_status(cli, "main")
    assert (status["delivered"], status["terminal_failed"], status["pending"]) == (30, 1, 0)
    assert cli("sync", "now", "--json").json()["attempted"] == 0


def test_retry_failed_requeues_terminal_failed_events(cli, stub, tmp_path):
    strict = stub("--max-event-bytes", "2000")
    cli("events", "append", "Big", "X", "--payload", '{"blob": "%s"}' % ("z" * 5000))
    cli("events", "append", "Small", "Y")
    cli("sync", "targets", "add", "main", "--type", "stub", "--url", strict.url, "--activate")
    assert cli("sync", "now", "--json").json()["terminal_failed"] == 1
    port = strict.url.rsplit(":", 1)[1]
    strict.stop()
    lenient = _restart_on_port(stub, port)
    assert cli("sync", "retry", "--target", "main", "--failed").code == 0
    report = cli("sync", "now", "--json").json()
    assert (report["attempted"], report["delivered"]) == (1, 1)
    assert [e["event_type"] for e in lenient.events()] == ["Big"]
    assert target_status(cli, "main")["terminal_failed"] == 0


def _restart_on_port(stub, port: str):
    deadline = time.monotonic() + 10
    while True:
        try:
            return stub("--port", port)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_503s_are_retried_after_backoff(cli, stub, home):
    server = stub("--fail-every", "2")
    cli("events", "import", "-", stdin=jsonl(events(40)))
    cli("sync", "targets", "add", "main", "--type", "stub", "--url", server.url, "--activate")
    assert cli("sync", "config", "set", "retry.base_seconds", "0.2").code == 0
    first = cli("sync", "now", "--json", "--batch-size", "10").json()
    assert first["retrying"] > 0 and first["delivered"] + first["retrying"] == 40
    deadline = time.monotonic() + 30
    while target_status(cli, "main")["delivered"] < 40:
        assert time.monotonic() < deadline, target_status(cli, "main")
        time.sleep(1.1)
        assert cli("sync", "now", "--json", "--batch-size", "10").code == 0
    counts = Counter(e["event_id"] for e in server.events())
    assert len(counts) == 40 and set(counts.values()) == {1}
    status = target_status(cli, "main")
    assert (status["delivered"], status["retrying"], status["pending"]) == (40, 0, 0)
    with sqlite3.connect(home / "eventsync.db") as conn:
        attempts = conn.execute("SELECT MAX(attempts) FROM deliveries").fetchone()[0]
    assert attempts >= 2


def test_sync_now_subprocess_exit_codes(eventsync_bin, stub, home):
    server = stub()

    def env_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([eventsync_bin, *args], capture_output=True, text=True, check=False)

    env_run("events", "append", "A", "B")
    assert env_run("sync", "now").returncode == 1
    env_run("sync", "targets", "add", "main", "--type", "stub", "--url", server.url, "--activate")
    done = env_run("sync", "now")
    assert done.returncode == 0, done.stderr
    assert "1 delivered" in done.stdout and "Traceback" not in done.stderr
