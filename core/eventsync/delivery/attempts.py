"""Every attempt that did not deliver an event, for `sync inspect`: when, outcome, detail, and
when it is tried next.

The ledger keeps one row per (event, target), holding only the latest outcome; this table keeps
the ones before it. It is written only for attempts that failed (a healthy drain writes nothing
here), and each (event, target) keeps its last `KEPT_ATTEMPTS` in a ring of slots, so an event
retried for weeks costs a constant number of rows. The final, successful attempt is the ledger
row itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eventsync.store import Schema, Store

KEPT_ATTEMPTS = 20

SCHEMA = Schema(
    "delivery_attempts",
    (
        """
        CREATE TABLE delivery_attempts (
            target_id       INTEGER NOT NULL,
            seq             INTEGER NOT NULL,
            slot            INTEGER NOT NULL,
            attempt         INTEGER NOT NULL,
            state           TEXT NOT NULL,
            detail          TEXT NOT NULL DEFAULT '',
            attempted_at    INTEGER NOT NULL,
            next_attempt_at INTEGER,
            PRIMARY KEY (target_id, seq, slot)
        ) WITHOUT ROWID
        """,
    ),
)

_INSERT = """
INSERT OR REPLACE INTO delivery_attempts (target_id, seq, slot, attempt, state, detail,
                                          attempted_at, next_attempt_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
_FOR_EVENT = """
SELECT attempt, state, detail, attempted_at, next_attempt_at FROM delivery_attempts
WHERE target_id = ? AND seq = ? ORDER BY attempt
"""
_DELIVERED = ("success", "duplicate")


@dataclass(frozen=True)
class Attempt:
    """One try at delivering one event to one target."""

    attempt: int
    outcome: str
    detail: str
    at: int
    next_attempt_at: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "at": self.at, "outcome": self.outcome,
                "detail": self.detail, "next_attempt_at": self.next_attempt_at}


def record_failed_attempts(conn: Any, rows: Iterable[tuple[int, int, str, int, str, int,
                                                            int | None]]) -> None:
    """Keep the failed ones of `(target_id, seq, state, attempt, detail, at, next_at)` rows.

    Called inside the ledger's write transaction, so an attempt and its outcome are committed
    together or not at all.
    """
    failed = [(target, seq, attempt % KEPT_ATTEMPTS, attempt, state, detail, at, next_at)
              for target, seq, state, attempt, detail, at, next_at in rows
              if state not in _DELIVERED]
    if failed:
        conn.executemany(_INSERT, failed)


class AttemptLog:
    """Reads the attempts of one event at one target."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(SCHEMA)

    def for_event(self, target_id: int, seq: int) -> list[Attempt]:
        return [Attempt(*row) for row in self.store.execute(_FOR_EVENT, (target_id, seq))]

    def forget(self, target_id: int) -> int:
        """Drop a removed target's attempts (`sync targets remove --forget-ledger`)."""
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM delivery_attempts WHERE target_id = ?",
                                (target_id,)).rowcount
