"""An audit trail of decisions eventsync made on the operator's behalf, and a few counters.

Refused discards (an opt-out that would have dropped a teamspace-family event), dropped local
events and migration conflicts are facts an operator must be able to see later in `sync status`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from eventsync.store import Schema, Store

REFUSED_DISCARD = "refused_discard"
DROPPED_LOCAL = "dropped_local"

SCHEMA = Schema(
    "audit",
    (
        """
        CREATE TABLE audit (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            at      INTEGER NOT NULL,
            kind    TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail  TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_kind ON audit (kind, id);
        CREATE TABLE counters (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )
        """,
    ),
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: int
    kind: str
    subject: str
    detail: dict[str, Any]


class AuditLog:
    """Append-only audit rows plus named counters."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(SCHEMA)

    def record(self, kind: str, subject: str, detail: dict[str, Any] | None = None,
               conn: sqlite3.Connection | None = None) -> None:
        """Add a row; inside the caller's transaction when `conn` is given."""
        params = (int(time.time() * 1000), kind, subject, json.dumps(detail or {}, sort_keys=True))
        sql = "INSERT INTO audit (at, kind, subject, detail) VALUES (?, ?, ?, ?)"
        if conn is not None:
            conn.execute(sql, params)
            return
        with self.store.transaction() as tx:
            tx.execute(sql, params)

    def bump(self, name: str, by: int = 1) -> None:
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name)"
                       " DO UPDATE SET value = value + excluded.value", (name, by))

    def counter(self, name: str) -> int:
        row = self.store.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def count(self, kind: str) -> int:
        row = self.store.execute("SELECT COUNT(*) FROM audit WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    def recent(self, kind: str | None = None, limit: int = 20) -> list[AuditEntry]:
        if kind is None:
            cur = self.store.execute("SELECT id, at, kind, subject, detail FROM audit"
                                     " ORDER BY id DESC LIMIT ?", (limit,))
        else:
            cur = self.store.execute("SELECT id, at, kind, subject, detail FROM audit"
                                     " WHERE kind = ? ORDER BY id DESC LIMIT ?", (kind, limit))
        return [AuditEntry(i, at, k, s, json.loads(d)) for i, at, k, s, d in cur]
