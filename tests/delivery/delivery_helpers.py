"""Helpers for the spine tests: every spine component open on one real SQLite file, a receiver
driven by a script, and readers of the ledger rows on disk."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eventsync
from eventsync.delivery.ledger import Batch, Ledger, RetryPolicy
from eventsync.delivery.targets import TargetRegistry
from eventsync.journal.journal import Journal
from eventsync.receivers import DeliveryResult, DeliveryStatus, Target
from eventsync.store import Store

FAR_FUTURE = 2**62


def open_spine(path: Path, retry: RetryPolicy | None = None) -> Spine:
    store = Store(path)
    return Spine(store, Journal(store), Ledger(store, retry or RetryPolicy(1.0, 300.0, 0.2)),
                 TargetRegistry(store))


@dataclass
class Spine:
    """One database with every spine component open on it."""

    store: Store
    journal: Journal
    ledger: Ledger
    registry: TargetRegistry

    def append(self, n: int, prefix: str = "WP") -> list[eventsync.Event]:
        return self.journal.append_many(
            {"event_type": "WPStatusChanged", "aggregate_id": f"{prefix}{i:04d}",
             "payload": {"step": i}} for i in range(n)
        )

    def target(self, name: str = "main", url: str | None = None,
               options: dict[str, str] | None = None) -> Target:
        return self.registry.add(name, "scripted", url or f"http://{name}.test", options)

    def rows(self, target_id: int) -> dict[str, dict[str, Any]]:
        """The target's ledger rows keyed by event id."""
        cur = self.store.execute(
            "SELECT j.event_id, d.state, d.attempts, d.detail, d.first_attempt_at,"
            " d.last_attempt_at, d.next_attempt_at, d.delivered_at"
            " FROM deliveries d JOIN journal j ON j.seq = d.seq WHERE d.target_id = ?"
            " ORDER BY d.seq", (target_id,),
        )
        keys = ("state", "attempts", "detail", "first_attempt_at", "last_attempt_at",
                "next_attempt_at", "delivered_at")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in cur}

    def select(self, target_id: int, limit: int = 1000, *, due_by: int = FAR_FUTURE,
               up_to: int | None = None) -> Batch:
        """Everything selectable, ignoring backoff unless `due_by` says otherwise."""
        high = self.ledger.high_water() if up_to is None else up_to
        return self.ledger.next_batch(target_id, limit, due_by=due_by, up_to=high)

    def bury(self, event_id: str) -> None:
        """What `sync gc` leaves behind: the row stays, its body is gone."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE journal SET body = NULL WHERE event_id = ?", (event_id,))


def results(batch: Batch, status: DeliveryStatus | str, detail: str = "",
            retry_after: float | None = None) -> list[DeliveryResult]:
    return [DeliveryResult(e.event_id, DeliveryStatus(status), detail, retry_after)
            for e in batch.events]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ScriptedReceiver(eventsync.DeliveryReceiver):
    """A receiver whose answer is a function of the events it is given; it remembers calls."""

    type_name = "scripted"

    def __init__(self, target: Target,
                 script: Callable[[list[eventsync.Event]], Any] | None = None) -> None:
        super().__init__(target)
        self.script = script or (lambda events: [
            DeliveryResult(e.event_id, DeliveryStatus.SUCCESS) for e in events])
        self.calls: list[list[str]] = []

    def deliver(self, events: list[eventsync.Event]) -> list[DeliveryResult]:
        self.calls.append([e.event_id for e in events])
        return self.script(events)
