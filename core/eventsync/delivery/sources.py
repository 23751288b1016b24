"""What a drain reads from: the retained journal (with the ledger) or the bounded offline queue.

Both speak the same two calls, so the dispatcher has one loop whatever the retention setting:
`next_batch(limit)` picks due events, `record(batch, results)` writes the outcomes.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from eventsync.delivery.ledger import Batch, BatchItem, Ledger
from eventsync.receivers import DeliveryResult


class DeliverySource(Protocol):
    """Where due events come from and where their outcomes go."""

    def next_batch(self, limit: int) -> Batch: ...

    def record(self, batch: Batch, results: list[DeliveryResult]) -> None: ...


class JournalSource:
    """Retention on: the journal is never touched; outcomes go to the ledger.

    The drain is bounded when it starts: retries due by then and events appended up to then.
    Anything that fails in this drain is due later, and producers appending meanwhile are
    served by the next drain, so a drain always ends.
    """

    def __init__(self, ledger: Ledger, target_id: int) -> None:
        self.ledger = ledger
        self.target_id = target_id
        self.due_by = time.time_ns() // 1_000_000
        self.up_to = ledger.high_water()

    def next_batch(self, limit: int) -> Batch:
        return self.ledger.next_batch(self.target_id, limit, due_by=self.due_by, up_to=self.up_to)

    def record(self, batch: Batch, results: list[DeliveryResult]) -> None:
        self.ledger.record(self.target_id, batch, results)

    def estimate(self) -> int:
        """Roughly how many events this drain will post, for a progress bar."""
        return max(0, self.up_to - self.ledger.cursor(self.target_id))

    def remaining(self) -> int:
        """Events this drain would still post: never attempted, or a retry due by its start."""
        return self.ledger.count_due(self.target_id, due_by=self.due_by, up_to=self.up_to)


class QueueSource:
    """Retention off: the bounded offline queue, whose rows are deleted once terminally handled.

    The queue's own source bounds the drain and offers each row once; this adapter only gives it
    the dispatcher's batch shape.
    """

    def __init__(self, queue: Any) -> None:
        from eventsync.queue.offline_queue import OfflineQueueSource

        self.inner = OfflineQueueSource(queue)

    def next_batch(self, limit: int) -> Batch:
        return Batch([BatchItem(0, event, True) for event in self.inner.next_batch(limit)], None)

    def record(self, batch: Batch, results: list[DeliveryResult]) -> None:
        self.inner.record(results)

    def estimate(self) -> int:
        return self.inner.estimate()

    def remaining(self) -> int:
        """Rows this drain has not offered yet (read once, when a drain stops early)."""
        inner = self.inner
        return len(inner.queue._due_rows(inner._after, inner._up_to, 1 << 30))
