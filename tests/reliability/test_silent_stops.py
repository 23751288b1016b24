"""A drain that gives up must say so (issue 15.6, CONTRACTS §6): `sync now` exits 3 with one
stderr line naming why and how many events remain due; the reason is "receiver error: ..." when
the receiver itself raised; `sync status --check` reports a target that has been failing for
longer than its backoff cap."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.processes import wait_until

import eventsync
from eventsync.plugins import Plugins


def dead_url() -> str:
    """A localhost port nobody listens on: bound, then closed, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def import_events(cli: Callable[..., Any], tmp_path: Path, count: int) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"event_type": "T", "aggregate_id": f"A{i}"}) + "\n"
                            for i in range(count)), encoding="utf-8")
    assert cli("events", "import", str(path)).code == 0


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("eventsync: error: ")]


def test_an_unreachable_target_exits_3_and_says_how_many_remain(
        cli: Callable[..., Any], tmp_path: Path) -> None:
    import_events(cli, tmp_path, 1_000)
    assert cli("sync", "targets", "add", "down", "--type", "stub", "--url", dead_url(),
               "--activate").code == 0
    result = cli("sync", "now", "--batch-size", "100")
    assert result.code == 3, (result.out, result.err)
    [line] = error_lines(result.err)
    assert "stopped early (target unreachable: " in line
    assert line.endswith("; 700 events remain due")
    as_json = cli("sync", "now", "--batch-size", "100", "--json")
    assert as_json.code == 3
    report = as_json.json()
    assert (report["attempted"], report["remaining"]) == (300, 400)
    assert report["stopped"].startswith("target unreachable: ")
    assert report["last_error"]
    assert len(error_lines(as_json.err)) == 1


def test_a_drain_that_finished_its_backlog_exits_0(cli: Callable[..., Any],
                                                  tmp_path: Path) -> None:
    """Every event tried and waiting on its backoff: nothing is left untried, so exit 0."""
    import_events(cli, tmp_path, 150)
    assert cli("sync", "targets", "add", "down", "--type", "stub", "--url", dead_url(),
               "--activate").code == 0
    result = cli("sync", "now", "--batch-size", "50")
    assert result.code == 0, result.err
    assert error_lines(result.err) == []


class RaisingReceiver(eventsync.DeliveryReceiver):
    type_name = "raising"

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        raise KeyError("no such field 'x'")


class RaisingPlugin:
    @eventsync.hookimpl
    def register_receivers(self, register: Callable[[type], None]) -> None:
        register(RaisingReceiver)


def test_a_raising_receiver_is_a_receiver_error_not_an_unreachable_target(
        cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def plugins() -> Plugins:
        loaded = Plugins()
        loaded.register_plugin(RaisingPlugin(), "raising-plugin")
        return loaded

    monkeypatch.setattr("eventsync.cli.context.load_plugins", plugins)
    import_events(cli, tmp_path, 500)
    assert cli("sync", "targets", "add", "r", "--type", "raising", "--url",
               "http://127.0.0.1:9", "--activate").code == 0
    result = cli("sync", "now", "--batch-size", "10")
    assert result.code == 3
    [line] = error_lines(result.err)
    assert "stopped early (receiver error: KeyError: " in line, line
    assert "unreachable" not in line
    assert line.endswith("; 470 events remain due")


def test_status_check_reports_a_target_failing_longer_than_its_backoff_cap(
        cli: Callable[..., Any], tmp_path: Path) -> None:
    assert cli("sync", "config", "set", "retry.max_seconds", "1").code == 0
    import_events(cli, tmp_path, 5)
    assert cli("sync", "targets", "add", "down", "--type", "stub", "--url", dead_url(),
               "--activate").code == 0
    assert cli("sync", "now").code == 0
    status = cli("sync", "status", "--json").json()
    [target] = status["targets"]
    assert target["unreachable_since"] is not None and target["last_error"]

    def failing_reported() -> Any:
        result = cli("sync", "status", "--check", "--json")
        return result if result.code == 1 else None

    result = wait_until(failing_reported, timeout=30, interval=0.2)
    messages = [p["message"] for p in result.json()["authority"]["problems"]]
    assert any("'down' has been failing for" in m and "backoff cap (1s)" in m
               for m in messages), messages
