"""Helpers the lifecycle tests share: events with fixed ids, real queue files, ledger facts."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventsync.delivery.ledger import Ledger
from eventsync.events import new_ulid
from eventsync.queue.offline_queue import OfflineQueue
from eventsync.queue.scope import build_queue_scope, queue_digest
from eventsync.receivers import DeliveryResult, Target
from eventsync.store import Store

_serial = itertools.count()


def event(event_type: str = "WPStatusChanged", aggregate_id: str | None = None,
          **payload: Any) -> dict[str, Any]:
    """A valid event with a fixed id and timestamp, so two copies are identical."""
    n = next(_serial)
    return {"event_id": new_ulid(), "event_type": event_type,
            "aggregate_id": aggregate_id or f"WP{n:04d}", "payload": payload or {"n": n},
            "timestamp": "2024-05-01T10:00:00.000Z"}


def digest_for(url: str, user: str | None = None, team: str | None = None) -> str:
    return queue_digest(build_queue_scope(url, user, team))


def write_queue(path: Path, events: Iterable[dict[str, Any]]) -> Path:
    """A legacy queue file written by the real OfflineQueue."""
    with OfflineQueue(path, max_queue_size=100_000) as queue:
        for item in events:
            assert queue.queue_event(item)
    return path


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def deliver(store: Store, target: Target, results: dict[str, str]) -> None:
    """Record outcomes for `target` the way a drain does: select, then record."""
    ledger = Ledger(store)
    assert target.id is not None
    batch = ledger.next_batch(target.id, 10_000, due_by=2**62, up_to=ledger.high_water())
    ledger.record(target.id, batch, [DeliveryResult(e.event_id, results.get(e.event_id,
                                                                              "failed_transient"))
                                     for e in batch.events])


def raw_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
