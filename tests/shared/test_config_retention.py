"""Retention off with a delivery target: the bounded offline queue, delivered then forgotten;
and delivery chosen by receiver type name, so a third-party type is a delivery mode."""

from __future__ import annotations

from shared_helpers import add_target, only_problem, problems_of

from eventsync import OfflineQueue, build_queue_scope, default_queue_db_path


def _queue_path(home, url: str, user: str | None = None, team: str | None = None):
    return default_queue_db_path(build_queue_scope(url, user, team), home)


def _queued_ids(path) -> list[str]:
    queue = OfflineQueue(path)
    try:
        return [e.event_id for e in queue.peek(100)]
    finally:
        queue.close()


def _append(cli, *args: str) -> str:
    result = cli("events", "append", *args)
    assert result.code == 0, result.err
    return result.out.strip()


def _retention_off(cli) -> None:
    assert cli("sync", "config", "set", "retention.enabled", "false").code == 0
    assert cli("sync", "config", "set", "delivery.mode", "stub").code == 0


def test_events_go_to_the_queue_not_the_journal_then_are_delivered_and_forgotten(
        cli, home, stub_server, status):
    server = stub_server()
    add_target(cli, "a", server.url, "--activate")
    _retention_off(cli)
    ids = [_append(cli, "Queued", "A1"), _append(cli, "Queued", "A2", "--family", "local")]
    path = _queue_path(home, server.url)

    assert path.name.startswith("queue-") and path.exists()
    assert _queued_ids(path) == ids
    assert cli("events", "list", "--json").json() == []
    report = status()
    assert report["journal"]["events"] == 0
    assert report["config"] == {"preset": None, "retention": False, "delivery": "stub"}
    assert problems_of(report) == []  # the target's own queue is not a stale legacy file

    drained = cli("sync", "now", "--json")

    assert drained.code == 0, drained.err
    assert drained.json()["delivered"] == 2
    assert [e["event_id"] for e in server.events()] == ids
    assert _queued_ids(path) == []
    assert cli("sync", "now", "--json").json()["attempted"] == 0
    assert cli("events", "list", "--json").json() == []


def test_the_queue_is_bounded_by_queue_max_size(cli, home, stub_server):
    server = stub_server()
    add_target(cli, "a", server.url, "--activate")
    _retention_off(cli)
    cli("sync", "config", "set", "queue.max_size", "2")

    ids = [_append(cli, "Queued", f"A{i}") for i in range(3)]

    assert _queued_ids(_queue_path(home, server.url)) == ids[1:]  # the oldest made room
    cli("sync", "now")
    assert [e["event_id"] for e in server.events()] == ids[1:]


def test_the_queue_follows_the_resolved_target(cli, home, stub_server, monkeypatch):
    first, second = stub_server(), stub_server()
    add_target(cli, "a", first.url, "--activate")
    add_target(cli, "b", second.url, "--option", "team=t2")
    _retention_off(cli)
    monkeypatch.setenv("EVENTSYNC_TARGET", "b")

    event_id = _append(cli, "Queued", "A1")

    assert _queued_ids(_queue_path(home, second.url, team="t2")) == [event_id]
    assert not _queue_path(home, first.url).exists()
    assert cli("sync", "now", "--json").json()["target"] == "b"
    assert [e["event_id"] for e in second.events()] == [event_id]
    assert first.events() == []


def test_delivery_mode_by_receiver_type_name(cli, stub_server, status):
    server = stub_server()
    add_target(cli, "a", server.url, "--activate")

    result = cli("sync", "config", "set", "delivery.mode", "stub")

    assert (result.code, result.out) == (0, "delivery.mode = stub\n")
    assert "delivery.mode = stub" in cli("sync", "config", "show").out
    event_id = _append(cli, "Typed", "A1")
    assert problems_of(status()) == []
    assert cli("sync", "now", "--json").json()["delivered"] == 1
    assert [e["event_id"] for e in server.events()] == [event_id]


def test_any_type_name_is_accepted_as_a_delivery_mode(cli, status):
    add_target(cli, "a", "http://127.0.0.1:9", "--activate")

    assert cli("sync", "config", "set", "delivery.mode", "acme-echo_2").code == 0

    assert status()["config"]["delivery"] == "acme-echo_2"
    assert only_problem(status())["message"] == (
        "delivery mode is 'acme-echo_2' but target 'a' is of type 'stub'")


def test_a_third_party_type_as_delivery_mode_through_the_cli(gated_cli):
    add_target(gated_cli, "g", "http://127.0.0.1:9", "--activate", type_name="gated")

    assert gated_cli("sync", "config", "set", "delivery.mode", "gated").code == 0

    report = gated_cli("sync", "status", "--json").json()
    assert report["config"]["delivery"] == "gated"
    assert [p["message"] for p in problems_of(report)] == [
        "target 'g' is not ready: SaaS sync is not enabled for this machine"]
