"""The bounded offline queue: retention off, deliver then forget, in spec-kitty's own file format.

eventsync replaces spec-kitty's offline queue, so the file IS spec-kitty's (2.1.0-3.2.5, schema
S2; SPEC-KITTY-COMPAT.md §2): one `queue` table whose `data` is the full event envelope and
whose `timestamp` is the enqueue time in Unix seconds. Either program opens, counts and drains
a file the other wrote. An S1 file (no `coalesce_key`) is upgraded in place with ADD COLUMN,
as spec-kitty does; a file in eventsync's earlier layout is converted once.

Semantics are spec-kitty 3.2.x's: FIFO eviction at `max_queue_size` (100,000) for
`queue_event`, a strict `append` cap (10,000) that raises `OfflineQueueFull`, a queued
duplicate `event_id` replaced, decision events never queued, MissionDossier coalescing, and
`process_batch_results` that deletes on success / duplicate / failed_permanent, bumps
`retry_count` on rejected and leaves every other status alone (an outage never strands or
poisons an event). Unlike spec-kitty, an evicted teamspace-family event is audited: it was not
discardable, so the operator must be able to see that it went.

The cap check must not cost a `SELECT COUNT(*)` per enqueue, whose price grows with the fill
level. The queue keeps the row count in memory, loaded once, adjusted only after a commit
succeeds, and thrown away whenever `PRAGMA data_version` says another connection has committed
to the file since we last looked: a second writer costs one recount, never a wrong count.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from eventsync.config import EventSyncConfig
from eventsync.errors import ConfigError, InvalidEvent, OfflineQueueFull, StorageError
from eventsync.events import Event, build_event
from eventsync.queue.queue_file import (
    ALL_ROWS,
    COUNT,
    lenient_text,
    migrate_file,
    transaction,
    write_lines,
)
from eventsync.queue.scope import build_queue_scope, default_queue_db_path
from eventsync.queue.spec_kitty_rules import (
    DEFAULT_COALESCE_TYPES,
    NEVER_QUEUED,
    SPEC_KITTY_COALESCING,
    EvictionAudit,
    blocked_reason,
    evicted_record,
    projects_of,
    spec_kitty_coalesce_key,
)
from eventsync.receivers import DeliveryResult, DeliveryStatus, Target
from eventsync.store import connect, connect_read_only, sqlite_errors

MAX_QUEUE_SIZE = 100_000
STRICT_CAP = 10_000
_CHUNK = 500

_INSERT = (
    "INSERT OR IGNORE INTO queue (event_id, event_type, data, timestamp, coalesce_key)"
    " VALUES (?, ?, ?, ?, ?)"
)
_REPLACE = (
    "UPDATE queue SET event_type = ?, data = ?, timestamp = ?, coalesce_key = ?"
    " WHERE event_id = ?"
)
# the newest row with the key; never onto an id another row holds (the insert path replaces it)
_COALESCE = (
    "UPDATE queue SET event_id = ?, data = ?, timestamp = ?"
    " WHERE id = (SELECT id FROM queue WHERE coalesce_key = ? AND (? IS NULL OR retry_count <= ?)"
    " ORDER BY id DESC LIMIT 1)"
    " AND NOT EXISTS (SELECT 1 FROM queue WHERE event_id = ?)"
)
_OLDEST = "SELECT id, data FROM queue ORDER BY timestamp, id LIMIT ?"
_DUE = (
    "SELECT id, timestamp, data FROM queue"
    " WHERE (timestamp > ? OR (timestamp = ? AND id > ?)) AND id <= ?"
    " AND (? IS NULL OR retry_count <= ?) ORDER BY timestamp, id LIMIT ?"
)

_REMOVING = frozenset({"success", "duplicate", "failed_permanent"})


@dataclass(frozen=True)
class QueueStats:
    """spec-kitty's `get_queue_stats()` shape, field for field."""

    total_queued: int = 0
    max_queue_size: int = MAX_QUEUE_SIZE
    total_retried: int = 0
    oldest_event_age: timedelta | None = None
    retry_distribution: dict[str, int] = field(default_factory=dict)
    top_event_types: list[tuple[str, int]] = field(default_factory=list)
    drain_blocked_counts: dict[str, int] = field(default_factory=dict)


class OfflineQueue:
    """A capped, coalescing, delete-on-delivery event queue in one spec-kitty queue file.

    One connection, shared by threads under a lock: `PRAGMA data_version` only tells a
    connection about *other* connections' commits, so per-thread connections would each see
    their siblings as strangers. Other objects and processes over the same file are safe (WAL,
    busy timeout, `BEGIN IMMEDIATE`); their writes make this object recount once.
    """

    MAX_QUEUE_SIZE = MAX_QUEUE_SIZE

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        max_queue_size: int = MAX_QUEUE_SIZE,
        coalesce_types: Iterable[str] = DEFAULT_COALESCE_TYPES,
        max_retries: int | None = None,
        *,
        audit_home: str | os.PathLike[str] | None = None,
    ) -> None:
        self.max_queue_size = _positive("max_queue_size", max_queue_size, minimum=1)
        self.max_retries = (None if max_retries is None
                            else _positive("max_retries", max_retries, minimum=0))
        if isinstance(coalesce_types, str):
            coalesce_types = (coalesce_types,)
        self.coalesce_types = frozenset(coalesce_types)
        self.db_path = Path(db_path) if db_path is not None else default_queue_db_path()
        self._audit = EvictionAudit(audit_home)
        self._lock = threading.RLock()
        self._row_count: int | None = None
        self._data_version: int | None = None
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create {self.db_path.parent}: {exc.strerror or exc}") from None
        self._conn = connect(self.db_path)
        try:
            migrate_file(self._conn, self.db_path)
        except BaseException:
            self._conn.close()
            raise

    @property
    def path(self) -> Path:
        """The queue file (`db_path`, spec-kitty's name for it)."""
        return self.db_path

    # -- enqueue ------------------------------------------------------------------------------

    def queue_event(self, event: Event | Mapping[str, Any]) -> bool:
        """Queue `event`, evicting the oldest rows at the cap; False when SQLite failed.

        Bad input still raises `InvalidEvent`: that is the caller's bug, not the disk's.
        """
        checked = _validate(event)
        if checked.event_type in NEVER_QUEUED:
            return True
        try:
            self._enqueue(checked, cap=None)
        except StorageError:
            return False
        return True

    def append(self, event: Event | Mapping[str, Any], *, cap: int | None = None) -> Event:
        """Queue `event` or raise `OfflineQueueFull` when `cap` rows (default 10,000, never
        more than `max_queue_size`) are queued; never evicts. Coalescing and replacing a queued
        id still work at the cap."""
        limit = STRICT_CAP if cap is None else _positive("cap", cap, minimum=1)
        limit = min(limit, self.max_queue_size)
        checked = _validate(event)
        if checked.event_type not in NEVER_QUEUED:
            self._enqueue(checked, cap=limit)
        return checked

    def _enqueue(self, event: Event, *, cap: int | None) -> None:
        key = self._coalesce_key(event)
        row = (event.event_id, event.event_type, event.to_json(), int(time.time()), key)
        with self._lock:
            grown, evicted = False, []
            with self._write() as conn:
                coalesced = key is not None and conn.execute(
                    _COALESCE, (row[0], row[2], row[3], key, self.max_retries,
                                self.max_retries, row[0])).rowcount == 1
                if not coalesced:
                    grown, evicted = self._insert(conn, row, cap=cap)
            if evicted:
                self._row_count = self.max_queue_size
                self._report_evicted(evicted)
            elif grown and self._row_count is not None:
                self._row_count += 1

    def _insert(self, conn: sqlite3.Connection, row: tuple[Any, ...], *, cap: int | None
                ) -> tuple[bool, list[tuple[int, str]]]:
        """Insert (or replace) one row, making room first; (row added, rows evicted)."""
        if conn.execute(_REPLACE, (row[1], row[2], row[3], row[4], row[0])).rowcount == 1:
            return False, []
        count = self._current_count(conn)
        if cap is not None and count >= cap:
            raise OfflineQueueFull(
                f"offline queue {self.db_path} is at its cap ({count}/{cap} events); nothing"
                " was written: drain it (eventsync sync now) or drain_to_file()",
                cap=cap, current=count)
        evicted: list[tuple[int, str]] = []
        if cap is None and count >= self.max_queue_size:
            evicted = conn.execute(_OLDEST, (count - self.max_queue_size + 1,)).fetchall()
            _delete_rowids(conn, [row_id for row_id, _ in evicted])
        return conn.execute(_INSERT, row).rowcount == 1, evicted

    def _coalesce_key(self, event: Event) -> str | None:
        if event.event_type not in self.coalesce_types:
            return None
        fields = SPEC_KITTY_COALESCING.get(event.event_type)
        if fields is None:  # an operator-configured type: one row per aggregate
            return f"{event.event_type}|{event.aggregate_id}"
        return spec_kitty_coalesce_key(event.to_dict(), fields)

    def _report_evicted(self, rows: list[tuple[int, str]]) -> None:
        """The stderr warning spec-kitty prints, in eventsync's words, plus an audit row per
        teamspace-family event (the family that must not be discarded)."""
        print(
            f"eventsync: warning: offline queue at capacity ({self.max_queue_size:,} events);"
            f" evicted {len(rows):,} oldest event(s) from {self.db_path}\n"
            "  Check auth and connectivity: eventsync sync status --check\n"
            "  Drain the queue now:         eventsync sync now",
            file=sys.stderr, flush=True,
        )
        lost = [evicted_record(data) for _, data in rows]
        lost = [item for item in lost if item is not None]
        if lost:
            try:
                self._audit.record(self.db_path, lost)
            except Exception as exc:  # the eviction is done; say so rather than fail the enqueue
                print(f"eventsync: warning: could not audit the eviction: {exc}",
                      file=sys.stderr, flush=True)

    # -- reading ------------------------------------------------------------------------------

    def drain_queue(self, limit: int = 1000) -> list[dict[str, Any]]:
        """spec-kitty's read: the oldest `limit` envelopes as dicts (timestamp, then id order);
        rows stay until `mark_synced` / `process_batch_results`."""
        return [event.to_dict() for _, event in self._due_rows(None, None, limit)]

    def peek(self, limit: int = 100) -> list[Event]:
        """The oldest `limit` events (within `max_retries`, when set); nothing changes."""
        return [event for _, event in self._due_rows(None, None, limit)]

    def drain(self, limit: int = 100) -> list[Event]:
        """The next events to send, oldest first, as Event objects.

        Rows stay until `mark_synced` / `process_batch_results` says how delivery went, so a
        crash between drain and delivery loses nothing.
        """
        return self.peek(limit)

    def size(self) -> int:
        """Rows in the file, from the cached counter (one recount after another writer)."""
        with self._lock, sqlite_errors(self.db_path):
            self._check_version(self._conn)
            return self._current_count(self._conn)

    def __len__(self) -> int:
        return self.size()

    def stats(self) -> dict[str, Any]:
        """eventsync's summary: events, cap, retried rows, oldest enqueue time (Unix s)."""
        with self._lock, sqlite_errors(self.db_path):
            retried, oldest = self._conn.execute(
                "SELECT COUNT(*) FILTER (WHERE retry_count > 0), MIN(timestamp) FROM queue"
            ).fetchone()
        return {"events": self.size(), "max_queue_size": self.max_queue_size,
                "retried": int(retried), "oldest_enqueued_at": oldest,
                "path": str(self.db_path)}

    def get_queue_stats(self) -> QueueStats:
        """spec-kitty's statistics: depth, retries, oldest age, retry buckets, top 5 types,
        and depth by `drain_blocked_reason` (`ready` when none)."""
        total = self.size()
        if total == 0:
            return QueueStats(max_queue_size=self.max_queue_size)
        with self._lock, sqlite_errors(self.db_path):
            rows = self._conn.execute(
                "SELECT event_type, retry_count, timestamp, data FROM queue").fetchall()
        buckets: Counter[str] = Counter()
        types: Counter[str] = Counter()
        blocked: Counter[str] = Counter()
        for event_type, retries, _, data in rows:
            retries = retries or 0
            buckets["0 retries" if retries == 0 else "1-3 retries" if retries <= 3
                    else "4+ retries"] += 1
            types[event_type] += 1
            blocked[blocked_reason(data)] += 1
        oldest = min(ts for _, _, ts, _ in rows)
        return QueueStats(
            total_queued=total, max_queue_size=self.max_queue_size,
            total_retried=sum(1 for _, retries, _, _ in rows if retries),
            oldest_event_age=timedelta(seconds=max(0, int(time.time()) - int(oldest))),
            retry_distribution=dict(buckets), top_event_types=types.most_common(5),
            drain_blocked_counts=dict(blocked))

    # -- removal and retries ------------------------------------------------------------------

    def mark_synced(self, event_ids: Iterable[str]) -> int:
        """Delete delivered events; returns how many rows really went (unknown ids count 0)."""
        ids = _id_list(event_ids)
        if not ids:
            return 0
        with self._lock:
            with self._write() as conn:
                removed = _delete_ids(conn, ids)
            self._shrink(removed)
        return removed

    def increment_retry(self, event_ids: Iterable[str]) -> int:
        """Count one more content rejection per event; returns how many rows were bumped."""
        ids = _id_list(event_ids)
        if not ids:
            return 0
        with self._lock, self._write() as conn:
            return _bump_ids(conn, ids)

    def process_batch_results(self, results: Iterable[Any]) -> int:
        """Apply a batch's outcomes in one transaction; returns the rows deleted.

        success / duplicate / failed_permanent delete, rejected bumps `retry_count`, pending,
        failed_transient and any other word leave the row as it is. A result is anything with
        `event_id` and `status`, as attributes or keys; one without them is refused before
        anything is written.
        """
        remove, retry = _split_results(results)
        with self._lock:
            with self._write() as conn:
                removed = _delete_ids(conn, remove)
                _bump_ids(conn, retry)
            self._shrink(removed)
        return removed

    def remove_project_events(self, project_id: str) -> int:
        """Delete the events of one project: the envelope's or payload's `project_uuid` (or
        `namespace.project_uuid`), or `producer.project`. Returns how many went."""
        if not project_id:
            return 0
        with self._lock:
            with self._write() as conn:
                doomed = [row_id for row_id, data in conn.execute("SELECT id, data FROM queue")
                          if project_id in projects_of(data)]
                removed = _delete_rowids(conn, doomed)
            self._shrink(removed)
        return removed

    def clear(self) -> int:
        """Delete every row; returns how many there were."""
        with self._lock:
            with self._write() as conn:
                removed = conn.execute("DELETE FROM queue").rowcount
            self._row_count = 0
        return removed

    def drain_to_file(self, path: str | os.PathLike[str]) -> int:
        """Write every row to `path` as JSON Lines (spec-kitty's order), then clear the queue.

        Parent folders are created. The file is complete and fsynced before the rows are
        deleted, under the write lock so that nothing enqueued meanwhile is cleared unwritten.
        An existing file at `path` is replaced. Returns the lines written.
        """
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {target.parent}: {exc.strerror or exc}") from None
        with self._lock:
            with self._write() as conn, lenient_text(conn):
                written = write_lines(target, conn.execute(ALL_ROWS))
                conn.execute("DELETE FROM queue")
            self._row_count = 0
        return written

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; later calls fail (`queue_event` returns False)."""
        with self._lock:
            self._conn.close()
            self._audit.close()

    def __enter__(self) -> OfflineQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the counter --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that first forgets the count if someone else committed."""
        with transaction(self._conn, self.db_path) as conn:
            self._check_version(conn)
            yield conn

    def _check_version(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._row_count = None
            self._data_version = version

    def _current_count(self, conn: sqlite3.Connection) -> int:
        """The cached count, loaded on first need; the only place a recount happens."""
        if self._row_count is None:
            self._row_count = conn.execute(COUNT).fetchone()[0]
        return self._row_count

    def _shrink(self, removed: int) -> None:
        if self._row_count is not None:
            self._row_count -= removed

    def _size_from_disk(self) -> int:
        """The true row count, for invariant tests; never on a hot path."""
        with self._lock, sqlite_errors(self.db_path):
            return int(self._conn.execute(COUNT).fetchone()[0])

    def _due_rows(self, after: tuple[int, int] | None, up_to: int | None, limit: int
                  ) -> list[tuple[tuple[int, int], Event]]:
        """Readable rows after the (timestamp, id) key `after`, oldest first; a row whose
        `data` is not an event is skipped (kept, never offered)."""
        if limit < 1:
            return []
        key = after if after is not None else (-sys.maxsize, 0)
        ceiling = sys.maxsize if up_to is None else up_to
        out: list[tuple[tuple[int, int], Event]] = []
        while len(out) < limit:
            want = limit - len(out)
            with self._lock, sqlite_errors(self.db_path):
                rows = self._conn.execute(_DUE, (key[0], key[0], key[1], ceiling,
                                                 self.max_retries, self.max_retries, want)
                                          ).fetchall()
            for found_id, found_ts, data in rows:
                event = _read_event(data)
                if event is not None:
                    out.append(((found_ts, found_id), event))
            if len(rows) < want:
                break
            key = (rows[-1][1], rows[-1][0])
        return out

    def _high_water(self) -> int:
        with self._lock, sqlite_errors(self.db_path):
            return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM queue").fetchone()[0])


class OfflineQueueSource:
    """What the dispatcher drains when retention is off: the queue's oldest due rows.

    A drain is bounded when it starts (rows queued up to then) and offers each row once, so a
    failing row cannot keep one drain busy; it is offered again by the next drain.
    """

    def __init__(self, queue: OfflineQueue) -> None:
        self.queue = queue
        self._after: tuple[int, int] | None = None
        self._up_to = queue._high_water()
        self._offered: list[str] = []

    def next_batch(self, limit: int) -> list[Event]:
        rows = self.queue._due_rows(self._after, self._up_to, limit)
        if rows:
            self._after = rows[-1][0]
        self._offered = [event.event_id for _, event in rows]
        return [event for _, event in rows]

    def record(self, results: list[DeliveryResult]) -> int:
        """Apply `results`; an offered event without one is left as it is (failed_transient)."""
        self._offered = []
        return self.queue.process_batch_results(results)

    def estimate(self) -> int:
        """Rows in the queue, for a progress bar."""
        return self.queue.size()


# -- rows -------------------------------------------------------------------------------------


def _validate(event: Event | Mapping[str, Any]) -> Event:
    if isinstance(event, Event):
        return build_event(event.to_dict())
    if not isinstance(event, Mapping):
        raise InvalidEvent(
            f"an event must be an Event or a JSON object, not {type(event).__name__}"
        )
    return build_event(dict(event))


def _read_event(data: Any) -> Event | None:
    """A row's envelope as an Event; None when the row is damaged."""
    try:
        return build_event(json.loads(data))
    except (TypeError, ValueError, RecursionError):  # InvalidEvent is a ValueError
        return None


def _id_list(event_ids: Iterable[str] | str) -> list[str]:
    if isinstance(event_ids, str):
        return [event_ids]
    return list(dict.fromkeys(event_ids))


def _chunks(ids: list[Any]) -> Iterator[tuple[list[Any], str]]:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def _delete_ids(conn: sqlite3.Connection, ids: list[str]) -> int:
    removed = 0
    for chunk, marks in _chunks(ids):
        removed += conn.execute(f"DELETE FROM queue WHERE event_id IN ({marks})", chunk).rowcount
    return removed


def _delete_rowids(conn: sqlite3.Connection, row_ids: list[int]) -> int:
    removed = 0
    for chunk, marks in _chunks(row_ids):
        removed += conn.execute(f"DELETE FROM queue WHERE id IN ({marks})", chunk).rowcount
    return removed


def _bump_ids(conn: sqlite3.Connection, ids: list[str]) -> int:
    bumped = 0
    for chunk, marks in _chunks(ids):
        bumped += conn.execute(
            f"UPDATE queue SET retry_count = retry_count + 1 WHERE event_id IN ({marks})", chunk
        ).rowcount
    return bumped


def _result_fields(result: Any) -> tuple[Any, Any]:
    if isinstance(result, Mapping):
        return result.get("event_id"), result.get("status")
    return getattr(result, "event_id", None), getattr(result, "status", None)


def _split_results(results: Iterable[Any]) -> tuple[list[str], list[str]]:
    """(ids whose rows go, ids whose retry count grows), refusing a result without an id or
    a status; an unknown status word leaves its row alone, as spec-kitty does."""
    remove: list[str] = []
    retry: list[str] = []
    for index, result in enumerate(results, start=1):
        event_id, status = _result_fields(result)
        if not isinstance(event_id, str) or not event_id:
            raise InvalidEvent(f"result {index} has no event_id")
        if not isinstance(status, str):
            raise InvalidEvent(f"result {index} has no status")
        word = str(status.value if isinstance(status, DeliveryStatus) else status)
        if word in _REMOVING:
            remove.append(event_id)
        elif word == "rejected":
            retry.append(event_id)
    return list(dict.fromkeys(remove)), list(dict.fromkeys(retry))


def _positive(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}, not {value!r}")
    return value


def open_target_queue(target: Target | None, home: Path | None,
                      config: EventSyncConfig) -> OfflineQueue:
    """The bounded offline queue for `target`'s scope (`queue.db` when there is no target)."""
    types = (*DEFAULT_COALESCE_TYPES, *config.coalesce_types)
    return OfflineQueue(target_queue_path(target, home), max_queue_size=config.max_queue_size,
                        coalesce_types=types, audit_home=home)


def target_queue_path(target: Target | None, home: Path | None) -> Path:
    """Where `target`'s offline queue lives. The name follows spec-kitty's rule
    (`queues/queue-<digest>.db` over `server|user|team`), so files written here are exactly
    what `sync migrate` and spec-kitty know how to read."""
    scope = None
    if target is not None:
        scope = build_queue_scope(target.url, target.options.get("user"),
                                  target.options.get("team"))
    return default_queue_db_path(scope, home)


def peek_stats(path: Path) -> dict[str, Any]:
    """`OfflineQueue.stats()`'s events, oldest enqueue time and path, read without writing:
    for the commands that only look, on a read-only home or a full disk. A queue file not yet
    created holds no events."""
    events, oldest = 0, None
    if path.exists():
        conn = connect_read_only(path)
        try:
            with sqlite_errors(path):
                events, oldest = conn.execute("SELECT COUNT(*), MIN(timestamp) FROM queue"
                                              ).fetchone()
        finally:
            conn.close()
    return {"events": int(events), "oldest_enqueued_at": oldest, "path": str(path)}


def _check_scope(target: Target, event: Event) -> None:
    producer = event.producer or {}
    for part in ("team", "user"):
        wanted, given = target.options.get(part), producer.get(part)
        if (isinstance(wanted, str) and wanted.strip() and isinstance(given, str)
                and given.strip() and wanted.strip().lower() != given.strip().lower()):
            raise InvalidEvent(
                f"event {event.event_id} was produced for {part} {given!r}, but target"
                f" {target.name!r} is {part} {wanted!r}; nothing was written")


def enqueue_for_target(target: Target | None, home: Path | None, config: EventSyncConfig,
                       event: Event) -> None:
    """Queue one event in `target`'s offline queue, opened for just this write.

    The scope rule holds here too: an event produced for another team (or user) than the
    target's is refused, never queued where that target would be sent it.
    """
    if target is not None:
        _check_scope(target, event)
    queue = open_target_queue(target, home, config)
    try:
        if not queue.queue_event(event):
            raise StorageError(f"could not write to the offline queue {queue.db_path}")
    finally:
        queue.close()
