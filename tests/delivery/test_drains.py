"""One drain assembled: receiver from a plugin, deployment facts on the target, then the drain."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from delivery_helpers import Spine

import eventsync
from eventsync.delivery.drains import RESET_KEY, Drains
from eventsync.delivery.ledger import TargetCounts
from eventsync.errors import PluginError, ReceiverNotReady
from eventsync.plugins import Plugins
from eventsync.receivers import DeliveryResult, DeliveryStatus, Target


class FactsReceiver(eventsync.DeliveryReceiver):
    """Reports whatever `facts` holds (or raises it), and delivers everything."""

    type_name = "facts"
    facts: ClassVar[Any] = {}
    closed: ClassVar[list[str]] = []
    gate: ClassVar[str | None] = None

    def preflight(self) -> None:
        if self.gate:
            raise ReceiverNotReady(self.gate)

    def describe(self) -> dict[str, Any]:
        if isinstance(self.facts, BaseException):
            raise self.facts
        return self.facts

    def deliver(self, events: list[eventsync.Event]) -> list[DeliveryResult]:
        return [DeliveryResult(e.event_id, DeliveryStatus.SUCCESS) for e in events]

    def close(self) -> None:
        FactsReceiver.closed.append(self.target.name)


class ReceiverPlugin:
    @eventsync.hookimpl
    def register_receivers(self, register) -> None:
        register(FactsReceiver)


@pytest.fixture
def drains(spine: Spine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Drains:
    monkeypatch.setattr(FactsReceiver, "facts", {})
    monkeypatch.setattr(FactsReceiver, "closed", [])
    monkeypatch.setattr(FactsReceiver, "gate", None)
    plugins = Plugins(entry_points=False, environ={})
    plugins.register_plugin(ReceiverPlugin(), "test-plugin")
    return Drains(spine.store, plugins, home=tmp_path)


def facts_target(spine: Spine, name: str = "main") -> Target:
    return spine.registry.add(name, "facts", f"http://{name}.test")


def deploy(drains: Drains, spine: Spine, facts: Any, name: str = "main") -> dict[str, Any]:
    FactsReceiver.facts = facts
    target = spine.registry.get(name)
    drains.record_deployment(target, drains.open_receiver(target))
    return spine.registry.get(name).metadata


def test_describe_facts_are_stored_on_the_target(drains: Drains, spine: Spine) -> None:
    target = facts_target(spine)
    metadata = deploy(drains, spine, {"server_instance_id": "i-1", "deployment_id": "d-1",
                                      "git_sha": "abc123", "nested": {"x": 1}, "list": [1]})
    assert {k: v for k, v in metadata.items() if k != "checked_at"} == {
        "server_instance_id": "i-1", "deployment_id": "d-1", "git_sha": "abc123"}
    assert isinstance(metadata["checked_at"], int)
    assert spine.registry.get("main").identity == target.identity


def test_a_changed_instance_id_is_flagged_and_clear_reset_clears_it(drains: Drains,
                                                                    spine: Spine) -> None:
    facts_target(spine)
    assert RESET_KEY not in deploy(drains, spine, {"server_instance_id": "i-1"})
    assert RESET_KEY not in deploy(drains, spine, {"server_instance_id": "i-1"})
    metadata = deploy(drains, spine, {"server_instance_id": "i-2"})
    assert "i-1" in metadata[RESET_KEY] and "i-2" in metadata[RESET_KEY]
    assert metadata["server_instance_id"] == "i-2"
    drains.clear_reset(spine.registry.get("main"))
    assert not spine.registry.get("main").metadata.get(RESET_KEY)
    assert spine.registry.get("main").metadata["server_instance_id"] == "i-2"


def test_a_first_instance_id_is_no_reset(drains: Drains, spine: Spine) -> None:
    facts_target(spine)
    assert RESET_KEY not in deploy(drains, spine, {"deployment_id": "d-1"})
    assert RESET_KEY not in deploy(drains, spine, {"server_instance_id": "i-1"})


@pytest.mark.parametrize("facts", [RuntimeError("health endpoint down"), {}, None])
def test_a_failing_or_empty_describe_changes_nothing(drains: Drains, spine: Spine,
                                                     facts: Any) -> None:
    facts_target(spine)
    assert deploy(drains, spine, facts) == {}


def test_drain_target_runs_the_whole_drain_and_closes_the_receiver(drains: Drains,
                                                                   spine: Spine) -> None:
    spine.append(30)
    target = facts_target(spine)
    FactsReceiver.facts = {"server_instance_id": "i-1"}
    starts: list[int] = []
    report = drains.drain_target(target, batch_size=7, on_start=starts.append)
    assert (report.attempted, report.delivered) == (30, 30)
    assert starts == [30]
    assert FactsReceiver.closed == ["main"]
    assert spine.ledger.counts(target.id) == TargetCounts(delivered=30)
    assert spine.registry.get("main").metadata["server_instance_id"] == "i-1"


def test_a_closed_gate_records_nothing_and_still_closes(drains: Drains, spine: Spine) -> None:
    spine.append(3)
    target = facts_target(spine)
    FactsReceiver.gate = "opt-in required"
    FactsReceiver.facts = {"server_instance_id": "i-1"}
    with pytest.raises(ReceiverNotReady, match="opt-in"):
        drains.drain_target(target)
    assert FactsReceiver.closed == ["main"]
    assert spine.rows(target.id) == {}
    assert spine.registry.get("main").metadata == {}


def test_the_receiver_gets_the_target_with_its_home(drains: Drains, spine: Spine,
                                                    tmp_path: Path) -> None:
    target = facts_target(spine)
    receiver = drains.open_receiver(target)
    assert isinstance(receiver, FactsReceiver)
    assert receiver.target.home == str(tmp_path)
    assert receiver.target.identity == target.identity


def test_an_unknown_type_names_the_installed_ones(drains: Drains, spine: Spine) -> None:
    target = spine.registry.add("other", "nope", "http://other.test")
    with pytest.raises(PluginError, match="facts"):
        drains.open_receiver(target)
