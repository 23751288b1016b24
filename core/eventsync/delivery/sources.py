"""What a drain reads from: the retained journal (with the ledger) or the bounded offline queue.

Both speak one call, so the dispatcher has one loop whatever the retention setting:
`advance(done, limit)` records the outcomes of the attempts in `done`, in order, then selects up
to `limit` events that are due and not already selected by this drain (`limit` 0: record only).
A source may select the next batch while earlier ones are still in flight: what it has handed
out is remembered in memory, and nothing moves on disk until an outcome is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from eventsync.delivery.ledger import Batch, Ledger, Outcome, Position
from eventsync.receivers import DeliveryResult, DeliveryStatus, StoredBatch


class DeliverySource(Protocol):
    """Where due events come from and where their outcomes go."""

    def advance(self, done: Sequence[Outcome], limit: int) -> Batch: ...


class JournalSource:
    """Retention on: the journal is never touched; outcomes go to the ledger.

    The drain is bounded when it starts: retries due by then and events appended up to then.
    Anything that fails in this drain is due later, and producers appending meanwhile are
    served by the next drain, so a drain always ends. Each `advance` is one write transaction.
    """

    def __init__(self, ledger: Ledger, target_id: int) -> None:
        self.ledger = ledger
        self.target_id = target_id
        self.due_by = time.time_ns() // 1_000_000
        self.up_to = ledger.high_water()
        self._position: Position | None = None

    def advance(self, done: Sequence[Outcome], limit: int) -> Batch:
        batch = self.ledger.advance(self.target_id, done, limit, due_by=self.due_by,
                                    up_to=self.up_to, after=self._position)
        if limit:
            self._position = batch.resume
        return batch

    def next_batch(self, limit: int) -> Batch:
        return self.advance((), limit)

    def record(self, batch: Batch, results: list[DeliveryResult]) -> None:
        self.advance([(batch, results)], 0)

    def estimate(self) -> int:
        """Roughly how many events this drain will post, for a progress bar."""
        return max(0, self.up_to - self.ledger.cursor(self.target_id))

    def remaining(self) -> int:
        """Events this drain would still post: never attempted, or a retry due by its start."""
        return self.ledger.count_due(self.target_id, due_by=self.due_by, up_to=self.up_to)


class QueueSource:
    """Retention off: the bounded offline queue, whose rows are deleted once terminally handled.

    The queue's own source bounds the drain and offers each row once; this adapter gives it
    the dispatcher's batch shape, and answers for an offered event the receiver left without
    a result itself, so that several batches may be out at once.
    """

    def __init__(self, queue: Any) -> None:
        from eventsync.queue.offline_queue import OfflineQueueSource

        self.inner = OfflineQueueSource(queue)
        self._open: list[Batch] = []  # offered, not yet recorded

    def advance(self, done: Sequence[Outcome], limit: int) -> Batch:
        for batch, results in done:
            self.record(batch, list(results))
        if not limit:
            return Batch([], [], [])
        stored = StoredBatch.of(self.inner.next_batch(limit))
        batch = Batch(stored.event_ids, stored.bodies, [0] * len(stored.event_ids))
        object.__setattr__(batch, "_events", stored.events)
        if len(batch):
            self._open.append(batch)
        return batch

    def next_batch(self, limit: int) -> Batch:
        return self.advance((), limit)

    def record(self, batch: Batch, results: list[DeliveryResult]) -> None:
        self._open = [open_ for open_ in self._open if open_ is not batch]
        answered = {result.event_id for result in results}
        missing = [DeliveryResult(event_id, DeliveryStatus.FAILED_TRANSIENT, "no result")
                   for event_id in batch.event_ids if event_id not in answered]
        if results or missing:
            self.inner.queue.process_batch_results([*results, *missing])

    def estimate(self) -> int:
        return self.inner.estimate()

    def remaining(self) -> int:
        """Rows this drain has not offered yet, or offered and never recorded (read once, when
        a drain stops early)."""
        inner = self.inner
        unsent = sum(len(batch) for batch in self._open)
        return unsent + len(inner.queue._due_rows(inner._after, inner._up_to, 1 << 30))
