"""Read-only questions operators ask of the ledger (`sync status`, `sync inspect`).

Kept apart from ledger.py, whose module is the drain's hot path: tuning one never disturbs the
other. Every query here is bounded by an index: retry reasons read only rows that have a
`next_attempt_at` (the partial index `deliveries_due`), and one event's row is a primary-key
lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsync.delivery.ledger import SCHEMA as LEDGER_SCHEMA
from eventsync.store import Store

TOP_REASONS = 3

_REASONS = """
SELECT detail, COUNT(*) AS n FROM deliveries
WHERE target_id = ? AND next_attempt_at IS NOT NULL
  AND state IN ('pending', 'rejected', 'failed_transient')
GROUP BY detail ORDER BY n DESC, detail LIMIT ?
"""
_EVENT_ROWS = """
SELECT target_id, state, attempts, detail, first_attempt_at, last_attempt_at, next_attempt_at,
       delivered_at
FROM deliveries WHERE target_id = ? AND seq = ?
"""
EVENT_ROW_KEYS = ("target_id", "state", "attempts", "detail", "first_attempt_at",
                  "last_attempt_at", "next_attempt_at", "delivered_at")


@dataclass(frozen=True)
class Reason:
    """One reason events are being retried, and how many events it holds back."""

    reason: str
    events: int

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "events": self.events}


class LedgerReport:
    """Operator-facing reads over the `deliveries` table."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(LEDGER_SCHEMA)

    def retry_reasons(self, target_id: int, limit: int = TOP_REASONS) -> list[Reason]:
        """The most common details among this target's retrying events, most common first."""
        cur = self.store.execute(_REASONS, (target_id, limit))
        return [Reason(" ".join((detail or "no detail given").split()), count)
                for detail, count in cur]

    def event_row(self, target_id: int, seq: int) -> dict[str, Any] | None:
        """One target's ledger row for one event (a primary-key lookup), or None."""
        row = self.store.execute(_EVENT_ROWS, (target_id, seq)).fetchone()
        return dict(zip(EVENT_ROW_KEYS, row, strict=True)) if row else None
