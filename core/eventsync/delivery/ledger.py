"""Delivery facts: one row per (target, event) once the target has had an outcome for it.

Selection of "what has this target not had yet" must not grow with history, so it has two O(batch)
halves: events after the target's cursor (never attempted; a primary-key range scan of the
journal), and retries that are due (a partial index over rows that have a `next_attempt_at`).
Terminal rows (`success`, `duplicate`, `failed_permanent`) have no `next_attempt_at`, so the index
holds only work still to do.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsync.delivery.attempts import SCHEMA as ATTEMPTS_SCHEMA
from eventsync.delivery.attempts import record_failed_attempts
from eventsync.delivery.authority import TargetScope, target_scope
from eventsync.delivery.targets import TargetRegistry
from eventsync.events import Event
from eventsync.journal.journal import SCHEMA as JOURNAL_SCHEMA
from eventsync.journal.journal import pin_through
from eventsync.receivers import DeliveryResult, DeliveryStatus, StoredBatch
from eventsync.store import Schema, Store

RETRYING = (DeliveryStatus.PENDING, DeliveryStatus.REJECTED, DeliveryStatus.FAILED_TRANSIENT)
# Backoff jitter has its own generator: a library must not move the host program's global
# `random` state (a seeded simulation, a property test) every time it records a retry.
_JITTER = random.Random()
MAX_RETRY_AFTER_SECONDS = 3600.0

SCHEMA = Schema(
    "ledger",
    (
        """
        CREATE TABLE deliveries (
            target_id        INTEGER NOT NULL,
            seq              INTEGER NOT NULL,
            state            TEXT NOT NULL,
            attempts         INTEGER NOT NULL,
            detail           TEXT NOT NULL DEFAULT '',
            first_attempt_at INTEGER NOT NULL,
            last_attempt_at  INTEGER NOT NULL,
            next_attempt_at  INTEGER,
            delivered_at     INTEGER,
            PRIMARY KEY (target_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX deliveries_due ON deliveries (target_id, next_attempt_at)
            WHERE next_attempt_at IS NOT NULL;
        CREATE TABLE cursors (
            target_id INTEGER PRIMARY KEY,
            seq       INTEGER NOT NULL
        )
        """,
    ),
)

# Due retries after the last one this drain selected, in (next_attempt_at, seq) order: the
# `deliveries_due` index holds exactly that key (a WITHOUT ROWID index ends with the primary key),
# so a drain that has retries in flight, not yet recorded, never selects them twice.
_SELECT_DUE = """
SELECT d.seq, j.event_id, j.body, d.next_attempt_at
FROM deliveries d JOIN journal j ON j.seq = d.seq
WHERE d.target_id = ? AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= ?
  AND (d.next_attempt_at, d.seq) > (?, ?) AND j.body IS NOT NULL
ORDER BY d.next_attempt_at, d.seq LIMIT ?
"""
_SELECT_NEW = """
SELECT j.seq, j.event_id, j.body FROM journal j
WHERE j.seq > ? AND j.seq <= ? AND j.body IS NOT NULL AND ({live}) AND ({scope})
ORDER BY j.seq LIMIT ?
"""
# Superseded events are skipped unless some target has been handed them (`journal_pin`, raised
# when a batch is selected, before it is posted): then they are history every target should
# get, so targets never disagree. Evaluated only above the pin, via a primary key.
_LIVE = """
j.seq <= (SELECT seq FROM journal_pin WHERE id = 1)
OR NOT EXISTS (SELECT 1 FROM journal_superseded s WHERE s.seq = j.seq)
"""
# -- the scope rule (CONTRACTS.md §2; issue 13) ----------------------------------------------
# An event is due for a target only when its route (the legacy queue scope a migrated event
# came from) is none or one of the target's digests, and its producer's team and user are
# unknown or the target's. Columns of the journal row itself: no join, no lookup, so the new-
# events half stays a rowid range scan. Parameters: `ScopeParams` below, in this order.
_SCOPE_RULE = """
(j.route IS NULL OR j.route IN (?, ?))
AND (j.scope_team IS NULL OR ? IS NULL OR j.scope_team = ?)
AND (j.scope_user IS NULL OR ? IS NULL OR j.scope_user = ?)
"""
_SELECT_NEW = _SELECT_NEW.format(live=_LIVE, scope=_SCOPE_RULE)
_COUNT_NEW = (f"SELECT COUNT(*) FROM journal j WHERE j.seq > ? AND j.body IS NOT NULL"
              f" AND ({_LIVE}) AND ({_SCOPE_RULE})")
_MAKE_DUE = (
    "INSERT INTO deliveries (target_id, seq, state, attempts, detail, first_attempt_at,"
    " last_attempt_at, next_attempt_at) VALUES (?, ?, 'pending', 0, 'attached by sync migrate',"
    " ?, ?, ?) ON CONFLICT (target_id, seq) DO NOTHING"
)
_MOVE_CURSOR = ("INSERT INTO cursors (target_id, seq) VALUES (?, ?) ON CONFLICT (target_id)"
                " DO UPDATE SET seq = MAX(seq, excluded.seq)")
_HISTORY = (
    "SELECT seq, state, attempts, detail, first_attempt_at, last_attempt_at, delivered_at"
    " FROM deliveries WHERE target_id = ? AND seq BETWEEN ? AND ? ORDER BY seq"
)
HISTORY_KEYS = ("state", "attempts", "detail", "first_attempt_at", "last_attempt_at",
                "delivered_at")
_UPSERT = """
INSERT INTO deliveries (target_id, seq, state, attempts, detail, first_attempt_at,
                        last_attempt_at, next_attempt_at, delivered_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)
ON CONFLICT (target_id, seq) DO UPDATE SET
    state = excluded.state,
    attempts = excluded.attempts,
    detail = excluded.detail,
    last_attempt_at = excluded.last_attempt_at,
    next_attempt_at = excluded.next_attempt_at,
    delivered_at = COALESCE(deliveries.delivered_at, excluded.delivered_at)
WHERE deliveries.state NOT IN ('success', 'duplicate') OR deliveries.next_attempt_at IS NOT NULL
"""
# The common outcome, a batch the target took, as one statement over a JSON list of seqs: SQLite
# walks the list itself, several times faster than binding a row at a time (`executemany`).
# `WHERE true` lets the upsert clause follow a SELECT; `attempts` counts on from any row a
# racing drain wrote.
_UPSERT_DELIVERED = """
INSERT INTO deliveries (target_id, seq, state, attempts, detail, first_attempt_at,
                        last_attempt_at, next_attempt_at, delivered_at)
SELECT ?1, value, ?2, 1, '', ?3, ?3, NULL, ?3 FROM json_each(?4) WHERE true
ON CONFLICT (target_id, seq) DO UPDATE SET
    state = excluded.state,
    attempts = deliveries.attempts + 1,
    detail = '',
    last_attempt_at = excluded.last_attempt_at,
    next_attempt_at = NULL,
    delivered_at = COALESCE(deliveries.delivered_at, excluded.delivered_at)
WHERE deliveries.state NOT IN ('success', 'duplicate') OR deliveries.next_attempt_at IS NOT NULL
"""
_SUCCESS = DeliveryStatus.SUCCESS
_DUPLICATE = DeliveryStatus.DUPLICATE
NO_RESULT = "the receiver returned no result for this event"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped; a server's Retry-After wins when it is longer."""

    base_seconds: float = 1.0
    max_seconds: float = 300.0
    jitter: float = 0.2


@dataclass(frozen=True)
class BatchItem:
    seq: int
    event: Event
    new: bool


@dataclass(frozen=True)
class Position:
    """How far one drain has selected: new events above `after_seq`, due retries after
    `due_after` (their `(next_attempt_at, seq)`). A drain keeps it in memory, so it can select
    the next batch while the previous ones are still in flight and unrecorded."""

    after_seq: int
    due_after: tuple[int, int] = (-1, -1)


@dataclass(frozen=True)
class Batch(StoredBatch):
    """Events selected for one delivery attempt, and how far the cursor may move after it.

    `seqs` runs parallel to `event_ids` and `bodies`; the first `retries` are due retries, the
    rest never attempted. `resume` is where the selection after this one starts.
    """

    seqs: list[int] = field(default_factory=list)
    retries: int = 0
    cursor_after: int | None = None
    resume: Position = Position(0)

    def __len__(self) -> int:
        return len(self.event_ids)

    @property
    def items(self) -> list[BatchItem]:
        """One record per event (for inspection and tests; the drain uses the lists)."""
        return [BatchItem(seq, event, index >= self.retries)
                for index, (seq, event) in enumerate(zip(self.seqs, self.events, strict=True))]


Outcome = tuple[Batch, Sequence[DeliveryResult]]


@dataclass(frozen=True)
class TargetCounts:
    delivered: int = 0
    duplicate: int = 0
    pending: int = 0
    retrying: int = 0
    terminal_failed: int = 0


def scope_params(scope: TargetScope | None) -> tuple[str | None, ...]:
    """`_SCOPE_RULE`'s parameters; no scope (an unregistered target id) admits unrouted events
    of any producer, never a migrated event of some scope."""
    if scope is None:
        return (None, None, None, None, None, None)
    return (*scope.digests, scope.team, scope.team, scope.user, scope.user)


class Ledger:
    """Per-target delivery state over one journal."""

    def __init__(self, store: Store, retry: RetryPolicy | None = None) -> None:
        self.store = store
        self.retry = retry or RetryPolicy()
        self._scopes: dict[int, tuple[str | None, ...]] = {}
        store.ensure(JOURNAL_SCHEMA)
        store.ensure(SCHEMA)
        store.ensure(ATTEMPTS_SCHEMA)

    def _scope(self, target_id: int) -> tuple[str | None, ...]:
        """The target's scope-rule parameters, looked up once (a target's scope never changes:
        changing it means removing the target, and ids are never reused)."""
        found = self._scopes.get(target_id)
        if found is None:
            target = next((t for t in TargetRegistry(self.store).list() if t.id == target_id),
                          None)
            found = scope_params(target_scope(target) if target is not None else None)
            if target is not None:
                self._scopes[target_id] = found
        return found

    def high_water(self) -> int:
        """The newest journal seq now; a drain stops there so producers can't keep it running."""
        row = self.store.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        return int(row[0])

    def cursor(self, target_id: int) -> int:
        row = self.store.execute("SELECT seq FROM cursors WHERE target_id = ?",
                                 (target_id,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _cursor(conn: sqlite3.Connection, target_id: int) -> int:
        row = conn.execute("SELECT seq FROM cursors WHERE target_id = ?", (target_id,)).fetchone()
        return int(row[0]) if row else 0

    def next_batch(self, target_id: int, limit: int, *, due_by: int, up_to: int,
                   after: Position | None = None) -> Batch:
        """Due retries first (oldest due), then never-attempted events, from `after` (default:
        the cursor); the batch is pinned before it is returned (see `advance`)."""
        return self.advance(target_id, (), limit, due_by=due_by, up_to=up_to, after=after)

    @staticmethod
    def make_due(conn: Any, target_id: int, seqs: Iterable[int], cursor: int) -> int:
        """Inside the caller's transaction, make events this target's cursor already passed
        due now (`sync migrate --attach`: they were nobody's until then); events after the
        cursor are selected anyway. Returns how many rows were added."""
        now = _now_ms()
        rows = [(target_id, seq, now, now, now) for seq in seqs if seq <= cursor]
        before = conn.total_changes
        conn.executemany(_MAKE_DUE, rows)
        return conn.total_changes - before

    def record(self, target_id: int, batch: Batch, results: Iterable[DeliveryResult]) -> None:
        """Write every outcome of one attempt and move the cursor, in one transaction."""
        self.advance(target_id, [(batch, list(results))], 0, due_by=0, up_to=0)

    def advance(self, target_id: int, done: Sequence[Outcome], limit: int, *, due_by: int,
                up_to: int, after: Position | None = None) -> Batch:
        """Record `done` (attempts in the order they were made), then select the next batch of
        up to `limit` events and pin it: one write transaction, the drain's one write per batch.

        The pin (`journal.pin_through`) is committed with the selection, before the batch can be
        posted, and inside the write lock that coalescing also takes: an event is either
        replaced before any drain reads it, or pinned and never changed again. A delivered row
        is never downgraded: two drains of one target may race (`sync now` beside the daemon),
        and the later, failed post of an event the target already has must not make it due.
        """
        if not limit and not any(len(batch) or batch.cursor_after is not None
                                 for batch, _ in done):
            return Batch([], [], [])
        now = _now_ms()
        with self.store.transaction() as conn:
            for batch, results in done:
                self._write(conn, target_id, batch, results, now)
            if not limit:
                return Batch([], [], [])
            if after is None:
                after = Position(self._cursor(conn, target_id))
            batch = self._select(conn, target_id, limit, due_by, up_to, after)
            if not len(batch) and batch.cursor_after is not None \
                    and after.after_seq == self._cursor(conn, target_id):
                # nothing of this drain is in flight: pass the skipped tail now
                conn.execute(_MOVE_CURSOR, (target_id, batch.cursor_after))
            return batch

    def _select(self, conn: sqlite3.Connection, target_id: int, limit: int, due_by: int,
                up_to: int, after: Position) -> Batch:
        """O(batch): a range of the due index and a rowid range of the journal, both keyed
        past what this drain already selected."""
        due = conn.execute(_SELECT_DUE, (target_id, due_by, *after.due_after, limit)).fetchall()
        wanted = limit - len(due)
        fresh: list[Any] = []
        cursor_after = None
        if wanted > 0 and after.after_seq < up_to:
            fresh = conn.execute(_SELECT_NEW, (after.after_seq, up_to, *self._scope(target_id),
                                               wanted)).fetchall()
            # fewer than asked for: nothing else up to `up_to` is due (superseded, buried or
            # another scope's), so the cursor may pass it all and no drain scans it again
            cursor_after = fresh[-1][0] if len(fresh) == wanted else up_to
        rows = due + fresh
        seqs = [row[0] for row in rows]
        if seqs:
            pin_through(conn, max(seqs))
        resume = Position(after.after_seq if cursor_after is None else cursor_after,
                          (due[-1][3], due[-1][0]) if due else after.due_after)
        return Batch([row[1] for row in rows], [row[2] for row in rows], seqs, len(due),
                     cursor_after, resume)

    def _write(self, conn: sqlite3.Connection, target_id: int, batch: Batch,
               results: Sequence[DeliveryResult], now: int) -> None:
        """Delivered outcomes as one statement per state; the rest row by row.

        Statuses are compared by identity: hashing a StrEnum member calls back into Python,
        which per event would cost more than the statement itself."""
        ordered = _align(batch, results)
        seqs = batch.seqs
        success: list[int] = []
        duplicate: list[int] = []
        others: list[int] = []
        for index, result in enumerate(ordered):
            if result is not None and not result.detail:
                status = result.status
                if status is _SUCCESS:
                    success.append(seqs[index])
                    continue
                if status is _DUPLICATE:
                    duplicate.append(seqs[index])
                    continue
            others.append(index)
        for state, delivered in (("success", success), ("duplicate", duplicate)):
            if delivered:
                conn.execute(_UPSERT_DELIVERED, (target_id, state, now, json.dumps(delivered)))
        if others:
            attempts = self._attempts(conn, target_id,
                                      [batch.seqs[i] for i in others if i < batch.retries])
            rows = [self._row(target_id, batch.seqs[i], batch.event_ids[i], ordered[i], now,
                              attempts.get(batch.seqs[i], 0) + 1) for i in others]
            conn.executemany(_UPSERT, rows)
            record_failed_attempts(conn, (row[:7] for row in rows))
        if batch.cursor_after is not None:
            conn.execute(_MOVE_CURSOR, (target_id, batch.cursor_after))

    def counts(self, target_id: int) -> TargetCounts:
        """Delivered / duplicate / retrying / terminal-failed rows, and events not yet attempted."""
        cur = self.store.execute(
            "SELECT state, COUNT(*) FROM deliveries WHERE target_id = ? GROUP BY state",
            (target_id,),
        )
        by_state = dict(cur.fetchall())
        not_attempted = self.store.execute(
            _COUNT_NEW, (self.cursor(target_id), *self._scope(target_id))).fetchone()[0]
        return TargetCounts(
            delivered=by_state.get("success", 0) + by_state.get("duplicate", 0),
            duplicate=by_state.get("duplicate", 0),
            pending=not_attempted,
            retrying=sum(by_state.get(state.value, 0) for state in RETRYING),
            terminal_failed=by_state.get("failed_permanent", 0),
        )

    def count_due(self, target_id: int, *, due_by: int, up_to: int) -> int:
        """Events `next_batch` would still select: retries due by `due_by`, then events after
        the cursor up to `up_to` (what a drain that stopped early leaves untried)."""
        due = self.store.execute(
            "SELECT COUNT(*) FROM deliveries WHERE target_id = ? AND next_attempt_at IS NOT NULL"
            " AND next_attempt_at <= ?", (target_id, due_by)).fetchone()[0]
        fresh = self.store.execute(_COUNT_NEW + " AND j.seq <= ?",
                                   (self.cursor(target_id), *self._scope(target_id), up_to)
                                   ).fetchone()[0]
        return int(due) + int(fresh)

    def failing_since(self, target_id: int) -> tuple[int, str] | None:
        """When this target's current run of failures began (epoch ms) and its latest error:
        the first attempt of the oldest retrying row tried after the last delivery; None when
        nothing retrying was tried since something was delivered."""
        row = self.store.execute(
            "SELECT MIN(first_attempt_at), MAX(last_attempt_at) FROM deliveries"
            " WHERE target_id = ? AND next_attempt_at IS NOT NULL AND state IN (?, ?, ?)"
            " AND first_attempt_at > (SELECT COALESCE(MAX(delivered_at), 0) FROM deliveries"
            " WHERE target_id = ?)", (target_id, *RETRYING, target_id)).fetchone()
        if row is None or row[0] is None:
            return None
        detail = self.store.execute(
            "SELECT detail FROM deliveries WHERE target_id = ? AND last_attempt_at = ?"
            " AND next_attempt_at IS NOT NULL LIMIT 1", (target_id, row[1])).fetchone()
        return int(row[0]), detail[0] if detail else ""

    def next_due_at(self, target_id: int) -> int | None:
        """When the earliest retry of this target falls due (epoch ms), if any."""
        row = self.store.execute(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE target_id = ?"
            " AND next_attempt_at IS NOT NULL", (target_id,),
        ).fetchone()
        return row[0]

    def retry_failed(self, target_id: int) -> int:
        """Make terminal-failed rows due now (the operator's `sync retry --failed`)."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE target_id = ?"
                " AND state = 'failed_permanent'", (_now_ms(), target_id),
            ).rowcount

    def retry_now(self, target_id: int) -> int:
        """Skip the backoff of retrying rows (the operator knows the target is back)."""
        now = _now_ms()
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE target_id = ?"
                " AND next_attempt_at > ?", (now, target_id, now),
            ).rowcount

    def retry_all(self, target_id: int) -> int:
        """Make every retained event this target had due again, keeping its ledger history.

        For a target whose server was reset: receivers answer `duplicate` for what they still
        hold, so re-posting is safe. No row is deleted: attempts, first attempt and delivery
        times stay, and the re-post's outcome updates the row. A delivered row is due only
        after this (a delivered row otherwise has no `next_attempt_at`), which is what lets
        the record step update it, while a normal drain still never downgrades one.
        """
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE target_id = ? AND EXISTS"
                " (SELECT 1 FROM journal j WHERE j.seq = deliveries.seq AND j.body IS NOT NULL)",
                (_now_ms(), target_id)).rowcount

    def forget(self, target_id: int) -> int:
        """Delete this target's rows and cursor (target removal, or a full re-drain)."""
        with self.store.transaction() as conn:
            removed = conn.execute("DELETE FROM deliveries WHERE target_id = ?",
                                   (target_id,)).rowcount
            conn.execute("DELETE FROM cursors WHERE target_id = ?", (target_id,))
        return removed

    def has_rows(self, target_id: int) -> bool:
        row = self.store.execute(
            "SELECT 1 FROM deliveries WHERE target_id = ? LIMIT 1", (target_id,)
        ).fetchone()
        return row is not None or self.cursor(target_id) > 0

    def history(self, seq: int) -> list[dict[str, Any]]:
        """Every target's row for one event (for archives and inspection)."""
        cur = self.store.execute(
            "SELECT target_id, state, attempts, detail, first_attempt_at, last_attempt_at,"
            " delivered_at FROM deliveries WHERE seq = ? ORDER BY target_id", (seq,),
        )
        keys = ("target_id", "state", "attempts", "detail", "first_attempt_at",
                "last_attempt_at", "delivered_at")
        return [dict(zip(keys, row, strict=True)) for row in cur]

    def delivered_seqs(self, target_id: int) -> set[int]:
        """Seqs with terminal success (`success` / `duplicate`) for one target."""
        cur = self.store.execute(
            "SELECT seq FROM deliveries WHERE target_id = ? AND state IN (?, ?)",
            (target_id, DeliveryStatus.SUCCESS, DeliveryStatus.DUPLICATE),
        )
        return {row[0] for row in cur}

    def histories(self, target_ids: Iterable[int], first_seq: int, last_seq: int
                  ) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        """Ledger rows for seqs in `[first_seq, last_seq]`, as seq -> [(target_id, row)].

        One range scan over the primary key `(target_id, seq)` per target, so an archive costs
        O(rows returned) instead of a lookup per event.
        """
        out: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for target_id in sorted(set(target_ids)):
            cur = self.store.execute(_HISTORY, (target_id, first_seq, last_seq))
            for seq, *values in cur:
                out.setdefault(seq, []).append(
                    (target_id, dict(zip(HISTORY_KEYS, values, strict=True))))
        return out

    def target_ids(self) -> set[int]:
        """Every target id the ledger has a cursor for (targets that were ever drained)."""
        return {row[0] for row in self.store.execute("SELECT target_id FROM cursors")}

    @staticmethod
    def _attempts(conn: Any, target_id: int, seqs: list[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(conn.execute(
                f"SELECT seq, attempts FROM deliveries WHERE target_id = ? AND seq IN ({marks})",
                (target_id, *chunk),
            ).fetchall())
        return found

    def _row(self, target_id: int, seq: int, event_id: str, result: DeliveryResult | None,
             now: int, attempts: int) -> tuple[Any, ...]:
        if result is None:
            result = DeliveryResult(event_id, DeliveryStatus.FAILED_TRANSIENT, NO_RESULT)
        status = result.status
        return (target_id, seq, status.value, attempts, result.detail[:500], now,
                self._next_attempt(now, attempts, result) if status in RETRYING else None,
                now if status.delivered else None)

    def _next_attempt(self, now: int, attempts: int, result: DeliveryResult) -> int:
        """Backoff doubles per attempt, with jitter, capped; a longer Retry-After wins, capped
        at the same maximum (a server must not park an event for longer than the operator
        allows)."""
        delay = self.retry.base_seconds * 2 ** min(attempts - 1, 30)
        delay *= 1 + _JITTER.uniform(-self.retry.jitter, self.retry.jitter)
        delay = min(self.retry.max_seconds, delay)
        if result.retry_after:
            delay = max(delay, min(result.retry_after, self.retry.max_seconds,
                                   MAX_RETRY_AFTER_SECONDS))
        return now + int(delay * 1000)


def _align(batch: Batch, results: Sequence[DeliveryResult]) -> Sequence[DeliveryResult | None]:
    """One result (or None) per event of the batch, in its order; the dispatcher already hands
    them over aligned, so the by-id lookup is only for other callers."""
    if len(results) == len(batch) and [r.event_id for r in results] == batch.event_ids:
        return results
    by_id = {result.event_id: result for result in results}
    return [by_id.get(event_id) for event_id in batch.event_ids]



def _now_ms() -> int:
    return time.time_ns() // 1_000_000
