"""`sync retry --all` after a server reset keeps the ledger's history (issue 15.11): it used to
delete every row of the target. Now every retained event is due again, the rows stay (attempts,
first attempt, delivery time), and the re-post's outcome updates them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from support.processes import StubProcess

from eventsync.home import DB_NAME


def ledger(home: Path) -> dict[int, tuple[Any, ...]]:
    conn = sqlite3.connect(home / DB_NAME)
    try:
        return {row[0]: row[1:] for row in conn.execute(
            "SELECT seq, state, attempts, first_attempt_at, delivered_at, next_attempt_at"
            " FROM deliveries ORDER BY seq")}
    finally:
        conn.close()


def test_retry_all_after_a_server_reset_keeps_history_and_redelivers_everything(
        cli: Callable[..., Any], home: Path, tmp_path: Path,
        stub: Callable[..., StubProcess]) -> None:
    first = stub("--db", str(tmp_path / "before.db"))
    port = str(urlsplit(first.url).port)
    lines = "".join(json.dumps({"event_type": "T", "aggregate_id": f"A{i}"}) + "\n"
                    for i in range(12))
    assert cli("events", "import", "-", stdin=lines).code == 0
    assert cli("sync", "targets", "add", "main", "--type", "stub", "--url", first.url,
               "--activate").code == 0
    assert cli("sync", "now", "--json").json()["delivered"] == 12
    before = ledger(home)
    assert {row[0] for row in before.values()} == {"success"}
    first.stop()
    reset = stub("--port", port, "--db", str(tmp_path / "after.db"))  # an empty server
    assert reset.event_ids() == []

    retried = cli("sync", "retry", "--target", "main", "--all")
    assert retried.code == 0
    kept = ledger(home)
    assert set(kept) == set(before), "no row was deleted"
    assert "12 events are due again (ledger history kept)" in retried.out
    for seq, (state, attempts, first_at, delivered_at, next_at) in kept.items():
        assert (state, attempts, first_at, delivered_at) == before[seq][:4]
        assert next_at is not None, "due again"
    status = cli("sync", "status", "--json").json()["targets"][0]
    assert status["delivered"] == 12

    report = cli("sync", "now", "--json").json()
    assert (report["attempted"], report["delivered"]) == (12, 12)
    assert sorted(reset.event_ids()) == sorted(e["event_id"] for e in
                                               cli("events", "list", "--json").json())
    after = ledger(home)
    for seq, (state, attempts, first_at, delivered_at, next_at) in after.items():
        assert (state, attempts, next_at) == ("success", 2, None)
        assert (first_at, delivered_at) == (before[seq][2], before[seq][3]), "history kept"
    assert cli("sync", "now", "--json").json()["attempted"] == 0, "delivered rows settle"


def test_retry_failed_and_all_together_is_refused_and_changes_nothing(
        cli: Callable[..., Any], home: Path, stub: Callable[..., StubProcess]) -> None:
    """`[--failed | --all]` are alternatives (CONTRACTS §6); together `--all` used to win
    silently."""
    server = stub()
    assert cli("events", "append", "T", "A1").code == 0
    assert cli("sync", "targets", "add", "main", "--type", "stub", "--url", server.url,
               "--activate").code == 0
    assert cli("sync", "now", "--json").json()["delivered"] == 1
    before = ledger(home)
    both = cli("sync", "retry", "--target", "main", "--failed", "--all")
    assert both.code == 2
    assert "--failed and --all are alternatives" in both.err
    assert ledger(home) == before
