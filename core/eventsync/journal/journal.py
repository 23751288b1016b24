"""The append-only journal: every event ever appended, in append order, never edited by delivery.

`seq` (AUTOINCREMENT, so never reused even after gc) is the order targets are drained in and the
key the ledger and per-target cursors refer to. `body` is the event's canonical JSON, spliced
into request bodies as stored.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsync.errors import DuplicateEventId, InvalidEvent
from eventsync.events import (
    MAX_EVENT_BYTES,
    Event,
    build_event,
    canonical_json,
    normalize_event_id,
    utf8_size,
)
from eventsync.home import DB_NAME, resolve_home
from eventsync.store import Schema, Store

CHUNK = 1_000

SCHEMA = Schema(
    "journal",
    (
        """
        CREATE TABLE journal (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id     TEXT NOT NULL UNIQUE,
            event_type   TEXT NOT NULL,
            aggregate_id TEXT NOT NULL,
            family       TEXT NOT NULL,
            body         TEXT,
            body_bytes   INTEGER NOT NULL,
            appended_at  INTEGER NOT NULL
        );
        CREATE INDEX journal_type_aggregate ON journal (event_type, aggregate_id)
        """,
        # coalescing (coalesce.py) marks an older event superseded here, never in its own row
        """
        CREATE TABLE journal_superseded (
            seq    INTEGER PRIMARY KEY,
            by_seq INTEGER NOT NULL
        )
        """,
        # delivery's fact, kept in the journal's own table so that coalescing can obey it
        # without reading the ledger: every event at or below `seq` was handed to a target
        # and is immutable from then on (see `pin_through`). A journal upgraded to this step pins
        # everything it already holds: it cannot tell which of those events a target has seen.
        """
        CREATE TABLE journal_pin (
            id  INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL
        );
        INSERT INTO journal_pin (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM journal
        """,
        # whose event this is, for the scope rule (CONTRACTS.md §2): the producer's team and
        # user, lowercased, and `route`, the scope of the legacy queue file a migrated event
        # came from (a scope digest, or `unknown`); NULL means "any target". Rows already
        # stored get their producer's team and user from their body, once.
        """
        ALTER TABLE journal ADD COLUMN scope_team TEXT;
        ALTER TABLE journal ADD COLUMN scope_user TEXT;
        ALTER TABLE journal ADD COLUMN route TEXT;
        UPDATE journal SET
            scope_team = NULLIF(lower(trim(json_extract(body, '$.producer.team'))), ''),
            scope_user = NULLIF(lower(trim(json_extract(body, '$.producer.user'))), '')
        WHERE body IS NOT NULL AND json_type(body, '$.producer') = 'object'
        """,
    ),
)
UNKNOWN_ROUTE = "unknown"

_PIN = "UPDATE journal_pin SET seq = ? WHERE id = 1 AND seq < ?"


def pin_through(conn: sqlite3.Connection, seq: int) -> None:
    """Record, inside the caller's transaction, that events up to `seq` were handed to a target.

    Delivery calls this in the transaction that selects a batch, before posting it, so the
    journal knows which events may no longer change (coalescing only rewrites an event above the
    pin) without importing delivery.
    """
    conn.execute(_PIN, (seq, seq))


def reroute(conn: sqlite3.Connection, old: str, new: str) -> list[int]:
    """Give every event routed `old` the route `new`, inside the caller's transaction; returns
    their seqs. The operator's `sync migrate --attach`: the one change a route ever sees."""
    seqs = [row[0] for row in conn.execute(
        "SELECT seq FROM journal WHERE route = ? ORDER BY seq", (old,))]
    conn.execute("UPDATE journal SET route = ? WHERE route = ?", (new, old))
    return seqs


_INSERT = (
    "INSERT INTO journal (event_id, event_type, aggregate_id, family, body, body_bytes,"
    " appended_at, scope_team, scope_user, route) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (event_id) DO NOTHING"
)


@dataclass(frozen=True)
class AppendReport:
    """What a bulk append did: the stored events, how many were new, how many already there."""

    events: list[Event]
    appended: int
    duplicates: int


@dataclass(frozen=True)
class JournalRow:
    """An event as stored, with its position in the journal."""

    seq: int
    event: Event


class Journal:
    """Append-only event storage over a `Store`.

    Nothing here updates or deletes a row: delivery is recorded in the ledger, and destruction
    is the operator's explicit `sync gc`.
    """

    def __init__(self, store: Store, *, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.store = store
        self.max_event_bytes = max_event_bytes
        self._owns_store = False
        store.ensure(SCHEMA)

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None, **kwargs: Any) -> Journal:
        """Open (creating if needed) the journal in `home` or the default home."""
        store = Store(Path(resolve_home(home)) / DB_NAME)
        journal = cls(store, **kwargs)
        journal._owns_store = True
        return journal

    def append(
        self, event_type: str, aggregate_id: str, payload: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Event:
        """Validate and store one event in its own transaction; return it as stored."""
        data = {"event_type": event_type, "aggregate_id": aggregate_id,
                "payload": {} if payload is None else payload, **fields}
        return self.append_event(data)

    def append_event(self, data: dict[str, Any] | Event) -> Event:
        """Append one event given as a mapping of Event JSON keys (or an Event).

        One autocommit INSERT is one transaction: it takes the write lock before it reads, so it
        waits on `busy_timeout` like `BEGIN IMMEDIATE` would, without a BEGIN and a COMMIT that
        together cost about as much as validating and encoding the event.
        """
        event = self._build(data)
        if self.store.execute(_INSERT, _row(event, _now_ms())).rowcount == 1:
            return event
        return self._resolve_existing(event, _given_timestamp(data))

    def append_many(self, items: Iterable[dict[str, Any] | Event]) -> list[Event]:
        """Validate every event first, then store them one transaction per 1,000."""
        return self.ingest(items).events

    def ingest(self, items: Iterable[dict[str, Any] | Event], *, route: str | None = None
               ) -> AppendReport:
        """`append_many` with counts: bad input anywhere raises before anything is written.

        `route` (migration only) confines the new events to the targets of one legacy queue
        scope; it is written with the rows, so no drain can see them unrouted.

        Only events whose caller chose the `event_id` can collide, so only those are remembered
        (with whether the timestamp was chosen too) and checked against the journal and each
        other before the first chunk is written; the rest stay a flat list, cheap to hold.
        """
        events: list[Event] = []
        chosen: dict[int, bool] = {}
        build = self._build
        for index, item in enumerate(items):
            try:
                events.append(build(item))
            except InvalidEvent as exc:
                raise InvalidEvent(f"event {index + 1}: {exc}") from None
            if _given_id(item):
                chosen[index] = _given_timestamp(item)
        self._refuse_conflicts(events, chosen)
        stored: list[Event] = []
        appended = 0
        for start in range(0, len(events), CHUNK):
            chunk = events[start:start + CHUNK]
            with self.store.transaction() as conn:
                before = conn.total_changes
                now = _now_ms()  # one transaction, one append time
                conn.executemany(_INSERT, [_row(event, now, route) for event in chunk])
                inserted = conn.total_changes - before
                if inserted == len(chunk):
                    stored.extend(chunk)
                else:
                    stored.extend(self._settle_chunk(conn, chunk, start, chosen))
            appended += inserted
        return AppendReport(stored, appended, len(events) - appended)

    def get(self, event_id: str) -> Event | None:
        """The stored event with this id in any spelling spec-kitty accepts (a lowercase ULID,
        a 32-hex UUID), or None (also None once gc removed its body)."""
        try:
            event_id = normalize_event_id(event_id) if isinstance(event_id, str) else event_id
        except InvalidEvent:
            return None
        row = self.store.execute(
            "SELECT body FROM journal WHERE event_id = ? AND body IS NOT NULL", (event_id,)
        ).fetchone()
        return Event.from_json(row[0]) if row else None

    def rows(self, *, after_seq: int = 0, limit: int | None = None) -> Iterator[JournalRow]:
        """Stored events in append order after `after_seq`."""
        sql = "SELECT seq, body FROM journal WHERE seq > ? AND body IS NOT NULL ORDER BY seq"
        params: tuple[int, ...] = (after_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (after_seq, limit)
        for seq, body in self.store.execute(sql, params):
            yield JournalRow(seq, Event.from_json(body))

    def tail(self, limit: int) -> list[JournalRow]:
        """The newest `limit` events, oldest first."""
        cur = self.store.execute(
            "SELECT seq, body FROM journal WHERE body IS NOT NULL ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [JournalRow(seq, Event.from_json(body)) for seq, body in reversed(cur.fetchall())]

    def stats(self) -> dict[str, int]:
        """Event count, stored bytes and the oldest append time (epoch ms, 0 when empty)."""
        row = self.store.execute(
            "SELECT COUNT(*), COALESCE(SUM(body_bytes), 0), COALESCE(MIN(appended_at), 0)"
            " FROM journal WHERE body IS NOT NULL"
        ).fetchone()
        return {"events": row[0], "bytes": row[1], "oldest_appended_at": row[2]}

    def __len__(self) -> int:
        row = self.store.execute("SELECT COUNT(*) FROM journal WHERE body IS NOT NULL").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Release the database when this journal opened it."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self, data: dict[str, Any] | Event) -> Event:
        if isinstance(data, Event):
            data = data.to_dict()
        return build_event(data, max_event_bytes=self.max_event_bytes)

    def _refuse_conflicts(self, events: list[Event], chosen: dict[int, bool]) -> None:
        """Find id collisions with a different body, in the batch or on disk, before writing."""
        first: dict[str, int] = {}
        for index, given in chosen.items():
            event = events[index]
            seen = first.setdefault(event.event_id, index)
            if seen != index and not _same_event(event, events[seen].to_json(), given):
                raise DuplicateEventId(
                    f"event {index + 1}: event_id {event.event_id} is also used by event"
                    f" {seen + 1} with a different body; nothing was written"
                )
        ids = list(first)
        for start in range(0, len(ids), 500):
            part = tuple(ids[start:start + 500])
            marks = ",".join("?" * len(part))
            cur = self.store.execute(
                f"SELECT event_id, body FROM journal WHERE event_id IN ({marks})", part
            )
            for event_id, body in cur:
                index = first[event_id]
                if body is None or not _same_event(events[index], body, chosen[index]):
                    raise DuplicateEventId(
                        f"event {index + 1}: {_conflict_message(event_id, body)}"
                    )

    def _settle_chunk(self, conn: Any, chunk: list[Event], start: int,
                      chosen: dict[int, bool]) -> list[Event]:
        """Some rows of the chunk already existed: return the stored event for each of those.

        A conflict found here (another process wrote the id after `_refuse_conflicts` looked)
        raises inside the transaction, so this chunk is rolled back.
        """
        out = []
        for offset, event in enumerate(chunk):
            row = conn.execute(
                "SELECT body FROM journal WHERE event_id = ?", (event.event_id,)
            ).fetchone()
            if row[0] == event.to_json():
                out.append(event)
            elif row[0] is not None and _same_event(event, row[0],
                                                    chosen.get(start + offset, True)):
                out.append(Event.from_json(row[0]))
            else:
                raise DuplicateEventId(_conflict_message(event.event_id, row[0]))
        return out

    def _resolve_existing(self, event: Event, given: bool) -> Event:
        """The INSERT found the id taken; the journal is append-only, so reading it now is safe."""
        row = self.store.execute(
            "SELECT body FROM journal WHERE event_id = ?", (event.event_id,)
        ).fetchone()
        if row is not None and row[0] is not None and _same_event(event, row[0], given):
            return Event.from_json(row[0])
        raise DuplicateEventId(_conflict_message(event.event_id, row[0] if row else ""))


def _row(event: Event, appended_at: int, route: str | None = None) -> tuple[Any, ...]:
    body = event.to_json()
    size = utf8_size(body)
    producer = event.producer
    team = _scope_part(producer.get("team")) if producer else None
    user = _scope_part(producer.get("user")) if producer else None
    return (event.event_id, event.event_type, event.aggregate_id, event.family, body, size,
            appended_at, team, user, route)


def _scope_part(value: Any) -> str | None:
    """A producer's team or user as the scope rule compares it: stripped, lowercased."""
    return (value.strip().lower() or None) if isinstance(value, str) else None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _given_timestamp(data: dict[str, Any] | Event) -> bool:
    return isinstance(data, Event) or data.get("timestamp") is not None


def _given_id(data: dict[str, Any] | Event) -> bool:
    return isinstance(data, Event) or data.get("event_id") is not None


def _same_event(event: Event, stored_body: str, timestamp_given: bool) -> bool:
    """Identical canonical event; a timestamp the caller did not give adopts the stored one."""
    if stored_body == event.to_json():
        return True
    if timestamp_given:
        return False
    stored = Event.from_json(stored_body).to_dict() | {"timestamp": event.timestamp}
    # compared as canonical JSON, not as dicts: in Python 1 == 1.0 == True, in JSON they differ
    return canonical_json(stored) == event.to_json()


def _conflict_message(event_id: str, stored_body: str | None = "") -> str:
    if stored_body is None:
        return (f"event_id {event_id} was appended before and its body removed by gc;"
                " nothing was written")
    return f"event_id {event_id} already exists with a different body; nothing was written"
