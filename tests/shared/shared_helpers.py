"""Helpers the settings tests share: a gated receiver type, target registration, problem lookup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eventsync
from eventsync.plugins import Plugins


class GatedReceiver(eventsync.DeliveryReceiver):
    """A receiver type whose gate is always closed, as a Teamspace target without its opt-in."""

    type_name = "gated"

    def preflight(self) -> None:
        raise eventsync.ReceiverNotReady("SaaS sync is not enabled for this machine")

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        raise AssertionError("a closed gate must never post")


class GatedPlugin:
    """An in-process plugin registering `GatedReceiver`."""

    @eventsync.hookimpl
    def register_receivers(self, register: Callable[[type], None]) -> None:
        register(GatedReceiver)


def plugins_with_gated() -> Plugins:
    """The installed plugins plus the gated receiver type."""
    plugins = Plugins()
    plugins.register_plugin(GatedPlugin(), "gated-test-plugin")
    return plugins


def add_target(cli: Callable[..., Any], name: str, url: str, *extra: str,
               type_name: str = "stub") -> None:
    """`eventsync sync targets add NAME --type TYPE --url URL ...`, which must succeed."""
    result = cli("sync", "targets", "add", name, "--type", type_name, "--url", url, *extra)
    assert result.code == 0, result.err


def problems_of(report: dict[str, Any]) -> list[dict[str, str]]:
    return report["authority"]["problems"]


def messages(report: dict[str, Any]) -> list[str]:
    return [p["message"] for p in problems_of(report)]


def only_problem(report: dict[str, Any]) -> dict[str, str]:
    """The single problem the report holds (a second one would hide what a test checks)."""
    problems = problems_of(report)
    assert len(problems) == 1, problems
    return problems[0]
