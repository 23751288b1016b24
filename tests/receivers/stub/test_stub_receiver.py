"""The `stub` receiver type and its plugin: registered, contract-checked, drained for real."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.events import make_events

import eventsync
import eventsync_stub
from eventsync import DeliveryStatus as S
from eventsync.plugins import load_plugins
from eventsync.testing import check_receiver, make_target
from eventsync_stub.receiver import StubReceiver


def receiver_for(url: str, **options: str) -> StubReceiver:
    return StubReceiver(make_target("stub", url, options))


def test_the_plugin_registers_the_stub_type_and_command(home, cli):
    assert load_plugins().receiver_class("stub") is StubReceiver
    row = next(p for p in cli("plugins", "--json").json() if p["name"] == "eventsync-stub")
    assert row["receivers"] == ["stub"] and row["error"] is None
    assert {"register_receivers", "register_commands"} <= set(row["hooks"])
    assert "serve" in cli("stub", "--help").out


def test_receiver_passes_the_contract_check_against_a_real_server(stub_server):
    server = stub_server()
    results = check_receiver(StubReceiver, make_events(5), url=server.url, expect=S.SUCCESS)
    assert len(results) == 5
    assert len(server.events()) == 5


def test_target_url_with_a_trailing_slash_or_path_prefix(stub_server):
    server = stub_server()
    receiver = receiver_for(server.url + "/")
    assert receiver.deliver(make_events(1))[0].status is S.SUCCESS
    prefixed = receiver_for(server.url + "/mounted")
    assert prefixed.deliver(make_events(1, prefix="P"))[0].status is S.FAILED_TRANSIENT
    assert prefixed.describe() == {}


def test_describe_returns_the_health_facts(stub_server):
    server = stub_server(instance_id="abc", git_sha="f00")
    assert receiver_for(server.url).describe() == {
        "server_instance_id": "abc", "deployment_id": "eventsync-stub",
        "environment_name": "local", "git_sha": "f00"}


def test_a_refusing_server_makes_the_receiver_not_ready(stub_server):
    server = stub_server(auth_token="needs-a-token")
    receiver = receiver_for(server.url)
    receiver.preflight()
    with pytest.raises(eventsync.ReceiverNotReady, match="HTTP 401"):
        receiver.deliver(make_events(2))  # raised, so the dispatcher records nothing
    with pytest.raises(eventsync.ReceiverNotReady, match="HTTP 401"):
        receiver.deliver(make_events(2, prefix="N"))
    with pytest.raises(eventsync.ReceiverNotReady):
        receiver.preflight()
    assert server.app.batch_requests == 1
    receiver.close()


def test_timeout_option(stub_server):
    server = stub_server(latency_ms=300)
    slow = receiver_for(server.url, timeout="0.05")
    assert "timeout after 0.05s" in slow.deliver(make_events(1))[0].detail
    for bad in ("soon", "0", "-1"):
        with pytest.raises(eventsync.TargetError, match="timeout"):
            receiver_for(server.url, timeout=bad)


def test_plugin_modules_import_only_the_public_face():
    """Plugins see `eventsync` and nothing deeper (ARCHITECTURE.md)."""
    package = Path(eventsync_stub.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("eventsync."), f"{path.name} imports {name}"


def test_the_package_exposes_server_and_receiver_lazily():
    assert eventsync_stub.StubReceiver is StubReceiver
    assert eventsync_stub.StubServer.__name__ == "StubServer"
    with pytest.raises(AttributeError):
        _ = eventsync_stub.Nope


def test_a_restarted_stub_on_the_same_db_raises_no_reset_advisory(cli, stub_server, tmp_path):
    """Issue 15.11 (stub half): the same --db is the same server, so `sync status` stays quiet;
    only a server that really lost its storage gets the advisory."""
    db = tmp_path / "received.db"
    first = stub_server(db=db)
    assert cli("sync", "targets", "add", "local", "--type", "stub", "--url", first.url,
               "--activate").code == 0
    for i in range(2):
        cli("events", "append", "WPStatusChanged", f"WP{i}")
    assert cli("sync", "now").code == 0
    port = first.port
    first.stop()
    stub_server(port=port, db=db)
    cli("events", "append", "WPStatusChanged", "WP9")
    assert cli("sync", "now").code == 0
    target = cli("sync", "status", "--json").json()["targets"][0]
    assert target["advisory"] is None and target["delivered"] == 3
