"""Built-in retention policies for `sync gc`, registered exactly like a third party's.

A policy only selects; the core still protects every event some registered target has not had
yet (unless `--force`) and keeps the ledger history as tombstones. See docs/lifecycle.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import eventsync


class KeepAll:
    """Delete nothing: the default, so gc is a no-op until an operator picks a policy."""

    name = "keep-all"
    description = "delete nothing (the default)"
    options: tuple[str, ...] = ()

    def select(self, context: Any) -> Iterable[int]:
        return ()


class MaxAge:
    """Events appended to this journal longer ago than `--older-than`."""

    name = "max-age"
    description = "events appended longer ago than --older-than"
    options = ("older_than",)

    def select(self, context: Any) -> Iterable[int]:
        cutoff = context.cutoff_ms
        if cutoff is None:
            raise eventsync.ConfigError("retention policy max-age needs --older-than (e.g. 30d)")
        return (event.seq for event in context.events() if event.appended_at < cutoff)


class MaxEvents:
    """All but the newest `--max-events` events."""

    name = "max-events"
    description = "all but the newest --max-events events"
    options = ("max_events",)

    def select(self, context: Any) -> Iterable[int]:
        if context.max_events is None:
            raise eventsync.ConfigError("retention policy max-events needs --max-events N")
        excess = context.live_count() - context.max_events
        if excess <= 0:
            return ()
        return itertools.islice((event.seq for event in context.events()), excess)


class DeliveredEverywhere:
    """Events with terminal success on every registered target (and older than, if given).

    With no target registered nothing has been delivered anywhere, so nothing is selected.
    """

    name = "delivered-everywhere"
    description = "events every registered target has (optionally older than --older-than)"
    options = ("older_than",)

    def select(self, context: Any) -> Iterable[int]:
        if not context.targets:
            return ()
        cutoff = context.cutoff_ms
        return (event.seq for event in context.events()
                if (cutoff is None or event.appended_at < cutoff)
                and context.delivered_everywhere(event.seq))


@eventsync.hookimpl(trylast=True)
def register_retention_policies(register: Callable[[type], None]) -> None:
    """Built-in policies; trylast so a third party's hook runs first."""
    for policy in (KeepAll, MaxAge, MaxEvents, DeliveredEverywhere):
        register(policy)
