"""What a drain reads from: the retained journal (with the ledger) or the bounded offline queue.

Both speak the same two calls, so the dispatcher has one loop whatever the retention setting:
`next_batch(limit)` picks due events, `record(batch, results)` writes the outcomes.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from eventsync.ledger import Batch, BatchItem, Ledger
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


class QueueSource:
    """Retention off: rows of the bounded offline queue, deleted once terminally handled.

    Each row is offered once per drain, so a failing row cannot keep one drain busy.
    """

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self._offered: set[str] = set()

    def next_batch(self, limit: int) -> Batch:
        fresh = [e for e in self.queue.peek(limit + len(self._offered))
                 if e.event_id not in self._offered][:limit]
        self._offered.update(e.event_id for e in fresh)
        return Batch([BatchItem(0, event, True) for event in fresh], None)

    def record(self, batch: Batch, results: list[DeliveryResult]) -> None:
        answered = {r.event_id for r in results}
        missing = [DeliveryResult(e.event_id, "failed_transient", "no result")
                   for e in batch.events if e.event_id not in answered]
        self.queue.process_batch_results([*results, *missing])

    def estimate(self) -> int:
        return int(self.queue.size())
