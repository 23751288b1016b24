"""The bounded offline queue: retention off, deliver then forget.

Some operators want a capped disk footprint instead of a retained journal. For them events wait
in a standalone SQLite file (`queue.db`, or `queue-<digest>.db` per server scope), one row per
event, deleted once a receiver has terminally answered for it. At the cap the oldest rows are
evicted (or a strict `append` refuses), and a coalescible event replaces its still-queued
predecessor in place. These files are also what `sync migrate` reads, so the file name rule and
the table layout are a contract (docs/offline-queue.md).

The cap check must not cost a `SELECT COUNT(*)` per enqueue, whose price grows with the fill
level. The queue keeps the row count in memory, loaded once, adjusted only after a commit
succeeds, and thrown away whenever `PRAGMA data_version` says another connection has committed
to the file since we last looked: a second writer costs one recount, never a wrong count.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from eventsync.config import EventSyncConfig
from eventsync.errors import ConfigError, InvalidEvent, OfflineQueueFull, StorageError
from eventsync.events import Event, build_event
from eventsync.home import open_private
from eventsync.queue.scope import build_queue_scope, default_queue_db_path
from eventsync.receivers import DeliveryResult, DeliveryStatus, Target
from eventsync.store import connect, describe_sqlite_error, sqlite_errors

QUEUE_FORMAT = 1
DEFAULT_MAX_QUEUE_SIZE = 10_000
DEFAULT_MAX_RETRIES = 5
_CHUNK = 500
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")

_CREATE = """
CREATE TABLE queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    retry_count  INTEGER NOT NULL DEFAULT 0,
    coalesce_key TEXT,
    body         TEXT,
    project_id   TEXT
)
"""
_LEGACY_REQUIRED = frozenset({"event_id", "event_type", "aggregate_id", "payload", "timestamp"})
_ADDED_COLUMNS = (
    ("retry_count", "INTEGER NOT NULL DEFAULT 0"),
    ("coalesce_key", "TEXT"),
    ("body", "TEXT"),
    ("project_id", "TEXT"),
)
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS queue_coalesce ON queue (coalesce_key)"
    " WHERE coalesce_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS queue_project ON queue (project_id) WHERE project_id IS NOT NULL",
)

_INSERT = (
    "INSERT INTO queue (event_id, event_type, aggregate_id, payload, timestamp, coalesce_key,"
    " body, project_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
)
_COALESCE = (
    "UPDATE queue SET event_id = ?, event_type = ?, aggregate_id = ?, payload = ?, timestamp = ?,"
    " coalesce_key = ?, body = ?, project_id = ?, retry_count = 0"
    " WHERE id = (SELECT id FROM queue WHERE coalesce_key = ? AND retry_count <= ?"
    " ORDER BY id DESC LIMIT 1)"
    " AND NOT EXISTS (SELECT 1 FROM queue WHERE event_id = ?)"
)
_EVICT = "DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT ?)"
_COUNT = "SELECT COUNT(*) FROM queue"
_DUE = (
    "SELECT id, body FROM queue WHERE id > ? AND id <= ? AND retry_count <= ?"
    " AND body IS NOT NULL ORDER BY id LIMIT ?"
)
_ALL_ROWS = (
    "SELECT body, event_id, event_type, aggregate_id, payload, timestamp FROM queue ORDER BY id"
)

_REMOVING = frozenset(
    {DeliveryStatus.SUCCESS, DeliveryStatus.DUPLICATE, DeliveryStatus.FAILED_PERMANENT}
)


class OfflineQueue:
    """A capped, coalescing, delete-on-delivery event queue in one SQLite file.

    One connection, shared by threads under a lock: `PRAGMA data_version` only tells a
    connection about *other* connections' commits, so per-thread connections would each see
    their siblings as strangers. Other objects and processes over the same file are safe (WAL,
    busy timeout, `BEGIN IMMEDIATE`); their writes make this object recount once.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        coalesce_types: Iterable[str] = (),
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.max_queue_size = _positive("max_queue_size", max_queue_size, minimum=1)
        self.max_retries = _positive("max_retries", max_retries, minimum=0)
        if isinstance(coalesce_types, str):
            coalesce_types = (coalesce_types,)
        self.coalesce_types = frozenset(coalesce_types)
        self.path = Path(db_path) if db_path is not None else default_queue_db_path()
        self._lock = threading.RLock()
        self._row_count: int | None = None
        self._data_version: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        self._conn = connect(self.path)
        try:
            _migrate(self._conn, self.path)
        except BaseException:
            self._conn.close()
            raise

    # -- enqueue ------------------------------------------------------------------------------

    def queue_event(self, event: Event | Mapping[str, Any]) -> bool:
        """Queue `event`, evicting the oldest rows at the cap; False when SQLite failed.

        Bad input still raises `InvalidEvent`: that is the caller's bug, not the disk's.
        """
        checked = _validate(event)
        try:
            self._enqueue(checked, strict=False)
        except StorageError:
            return False
        return True

    def append(self, event: Event | Mapping[str, Any]) -> Event:
        """Queue `event` or raise `OfflineQueueFull` at the cap; nothing is ever evicted."""
        checked = _validate(event)
        self._enqueue(checked, strict=True)
        return checked

    def _enqueue(self, event: Event, *, strict: bool) -> None:
        key = _coalesce_key(event) if event.event_type in self.coalesce_types else None
        row = _row(event, key)
        with self._lock:
            grown, evicted = False, 0
            with self._write() as conn:
                coalesced = key is not None and conn.execute(
                    _COALESCE, (*row, key, self.max_retries, event.event_id)
                ).rowcount == 1
                if not coalesced:
                    grown, evicted = self._insert(conn, row, strict=strict)
            if evicted:
                self._row_count = self.max_queue_size
                _warn_evicted(evicted, self.path)
            elif grown and self._row_count is not None:
                self._row_count += 1

    def _insert(self, conn: sqlite3.Connection, row: tuple[Any, ...], *, strict: bool
                ) -> tuple[bool, int]:
        """Insert one row, making room first; (whether a row was added, how many evicted)."""
        count = self._current_count(conn)
        evicted = 0
        if count >= self.max_queue_size:
            if conn.execute("SELECT 1 FROM queue WHERE event_id = ?", (row[0],)).fetchone():
                return False, 0
            if strict:
                raise OfflineQueueFull(
                    f"offline queue {self.path} is full ({self.max_queue_size} events);"
                    " nothing was written"
                )
            evicted = conn.execute(_EVICT, (count - self.max_queue_size + 1,)).rowcount
        return conn.execute(_INSERT, row).rowcount == 1, evicted

    # -- reading ------------------------------------------------------------------------------

    def peek(self, limit: int = 100) -> list[Event]:
        """The oldest `limit` events not yet past `max_retries`; nothing changes.

        A row is offered while `retry_count <= max_retries`: the first attempt plus
        `max_retries` retries.
        """
        return [event for _, event in self._due_rows(0, None, limit)]

    def drain(self, limit: int = 100) -> list[Event]:
        """The next events to send, oldest first.

        Rows stay until `mark_synced` / `process_batch_results` says how delivery went, so a
        crash between drain and delivery loses nothing.
        """
        return self.peek(limit)

    def size(self) -> int:
        """Rows in the file, from the cached counter (one recount after another writer)."""
        with self._lock, sqlite_errors(self.path):
            self._check_version(self._conn)
            return self._current_count(self._conn)

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
        """Count one more failed attempt for each event; returns how many rows were bumped."""
        ids = _id_list(event_ids)
        if not ids:
            return 0
        with self._lock, self._write() as conn:
            return _bump_ids(conn, ids)

    def process_batch_results(
        self, results: Iterable[DeliveryResult | Mapping[str, Any]]
    ) -> int:
        """Apply receiver outcomes: terminal ones delete the row, the rest bump its retry count.

        Every result is checked before anything is written. Returns the rows deleted.
        """
        remove, retry = _split_results(results)
        with self._lock:
            with self._write() as conn:
                removed = _delete_ids(conn, remove)
                _bump_ids(conn, retry)
            self._shrink(removed)
        return removed

    def remove_project_events(self, project_id: str) -> int:
        """Delete the events whose `producer["project"]` is `project_id`; returns how many."""
        with self._lock:
            with self._write() as conn:
                removed = conn.execute(
                    "DELETE FROM queue WHERE project_id = ?", (project_id,)
                ).rowcount
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
        """Write every row to `path` as JSON Lines (oldest first), then clear the queue.

        The file is complete and fsynced before the rows are deleted, under the write lock so
        that nothing enqueued meanwhile is cleared unwritten. An existing file at `path` is
        replaced. Returns the lines written.
        """
        target = Path(path)
        with self._lock:
            with self._write() as conn, _lenient_text(conn):
                written = _write_lines(target, conn.execute(_ALL_ROWS))
                conn.execute("DELETE FROM queue")
            self._row_count = 0
        return written

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; later calls fail (`queue_event` returns False)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> OfflineQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the counter --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that first forgets the count if someone else committed."""
        with _transaction(self._conn, self.path) as conn:
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
            self._row_count = conn.execute(_COUNT).fetchone()[0]
        return self._row_count

    def _shrink(self, removed: int) -> None:
        if self._row_count is not None:
            self._row_count -= removed

    def _size_from_disk(self) -> int:
        """The true row count, for invariant tests; never on a hot path."""
        with self._lock, sqlite_errors(self.path):
            return int(self._conn.execute(_COUNT).fetchone()[0])

    def _due_rows(self, after_id: int, up_to: int | None, limit: int
                  ) -> list[tuple[int, Event]]:
        """Rows with `after_id < id <= up_to`, oldest first, within the retry budget."""
        if limit < 1:
            return []
        ceiling = sys.maxsize if up_to is None else up_to
        with self._lock, sqlite_errors(self.path):
            rows = self._conn.execute(
                _DUE, (after_id, ceiling, self.max_retries, limit)
            ).fetchall()
        return [(row_id, Event.from_json(body)) for row_id, body in rows]

    def _high_water(self) -> int:
        with self._lock, sqlite_errors(self.path):
            return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM queue").fetchone()[0])


class OfflineQueueSource:
    """What the dispatcher drains when retention is off: the queue's oldest due rows.

    A drain is bounded when it starts (rows queued up to then) and offers each row once, so a
    failing row cannot keep one drain busy; it is retried by the next drain until it runs out
    of retries.
    """

    def __init__(self, queue: OfflineQueue) -> None:
        self.queue = queue
        self._after = 0
        self._up_to = queue._high_water()
        self._offered: list[str] = []

    def next_batch(self, limit: int) -> list[Event]:
        rows = self.queue._due_rows(self._after, self._up_to, limit)
        if rows:
            self._after = rows[-1][0]
        self._offered = [event.event_id for _, event in rows]
        return [event for _, event in rows]

    def record(self, results: list[DeliveryResult]) -> int:
        """Apply `results`; an offered event without one counts as `failed_transient`."""
        answered = {_result_id(result) for result in results}
        missing = [
            DeliveryResult(event_id, DeliveryStatus.FAILED_TRANSIENT, "no result")
            for event_id in self._offered if event_id not in answered
        ]
        self._offered = []
        return self.queue.process_batch_results([*results, *missing])

    def estimate(self) -> int:
        """Rows in the queue, for a progress bar."""
        return self.queue.size()


# -- schema -----------------------------------------------------------------------------------


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create the table, or bring a legacy (user_version 0) table forward, in one transaction."""
    with _transaction(conn, path):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > QUEUE_FORMAT:
            raise StorageError(
                f"offline queue {path} was written by a newer eventsync (format {version});"
                " upgrade eventsync"
            )
        if version == QUEUE_FORMAT:
            return
        columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
        if columns:
            _upgrade_legacy(conn, columns, path)
        else:
            conn.execute(_CREATE)
        for statement in _INDEXES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {QUEUE_FORMAT}")


def _upgrade_legacy(conn: sqlite3.Connection, columns: set[str], path: Path) -> None:
    missing = _LEGACY_REQUIRED - columns
    if missing:
        raise StorageError(
            f"database {path} has a queue table without {', '.join(sorted(missing))};"
            " it is not an offline queue file"
        )
    for name, declaration in _ADDED_COLUMNS:
        if name not in columns:
            conn.execute(f"ALTER TABLE queue ADD COLUMN {name} {declaration}")
    conn.execute(
        "UPDATE queue SET coalesce_key = event_type || '|' || aggregate_id"
        " WHERE coalesce_key IS NOT NULL"
    )
    with _lenient_text(conn):
        legacy = conn.execute(
            "SELECT id, event_id, event_type, aggregate_id, payload, timestamp FROM queue"
            " WHERE body IS NULL"
        ).fetchall()
    updates = []
    for row_id, *fields in legacy:
        event = _legacy_event(*fields)
        if event is not None:
            updates.append((event.to_json(), _project(event), row_id))
    conn.executemany("UPDATE queue SET body = ?, project_id = ? WHERE id = ?", updates)


def _legacy_event(event_id: Any, event_type: Any, aggregate_id: Any, payload: Any,
                  timestamp: Any) -> Event | None:
    """Rebuild a legacy row's event; None when the row is damaged (it is kept, never offered).

    A row without an event_id is damaged: `build_event` would invent one, which the row's own
    column would never match, so delivery could never remove it.
    """
    if event_id is None:
        return None
    try:
        return build_event({
            "event_id": event_id, "event_type": event_type, "aggregate_id": aggregate_id,
            "payload": json.loads(payload), "timestamp": _legacy_timestamp(timestamp),
        })
    except (TypeError, ValueError, RecursionError):  # json.loads: RecursionError when deep
        return None


@contextlib.contextmanager
def _lenient_text(conn: sqlite3.Connection) -> Iterator[None]:
    """Read TEXT that is not valid UTF-8 (a damaged legacy row) instead of failing the query.

    sqlite3 raises on the first such value, which would cost every other row of the file. The
    bad bytes become lone surrogates, which event validation refuses, so the row is treated as
    damaged: kept, never offered. Only for whole-file reads; the hot paths keep plain `str`.
    """
    conn.text_factory = _decode_lenient
    try:
        yield
    finally:
        conn.text_factory = str


def _decode_lenient(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _legacy_timestamp(value: Any) -> Any:
    """Older queues stored epoch seconds or milliseconds, or ISO times with an offset.

    Those become `...Z`; anything else passes through for validation to judge.
    """
    if isinstance(value, str) and value.endswith("Z"):
        return value
    if isinstance(value, str) and _EPOCH.fullmatch(value):
        value = float(value)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception, errors as StorageError."""
    with sqlite_errors(path):
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except sqlite3.Error as exc:
        _rollback(conn)
        raise StorageError(describe_sqlite_error(exc, path)) from exc
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise StorageError(describe_sqlite_error(exc, path)) from exc


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


# -- rows -------------------------------------------------------------------------------------


def _validate(event: Event | Mapping[str, Any]) -> Event:
    if isinstance(event, Event):
        return build_event(event.to_dict())
    if not isinstance(event, Mapping):
        raise InvalidEvent(
            f"an event must be an Event or a JSON object, not {type(event).__name__}"
        )
    return build_event(dict(event))


def _coalesce_key(event: Event) -> str:
    """`type|aggregate`: unambiguous because an event type cannot contain `|`."""
    return f"{event.event_type}|{event.aggregate_id}"


def _project(event: Event) -> str | None:
    return event.producer.get("project") if event.producer else None


def _row(event: Event, key: str | None) -> tuple[Any, ...]:
    return (event.event_id, event.event_type, event.aggregate_id, event.payload_json,
            event.timestamp, key, event.to_json(), _project(event))


def _id_list(event_ids: Iterable[str] | str) -> list[str]:
    if isinstance(event_ids, str):
        return [event_ids]
    return list(dict.fromkeys(event_ids))


def _chunks(ids: list[str]) -> Iterator[tuple[list[str], str]]:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def _delete_ids(conn: sqlite3.Connection, ids: list[str]) -> int:
    removed = 0
    for chunk, marks in _chunks(ids):
        removed += conn.execute(f"DELETE FROM queue WHERE event_id IN ({marks})", chunk).rowcount
    return removed


def _bump_ids(conn: sqlite3.Connection, ids: list[str]) -> int:
    bumped = 0
    for chunk, marks in _chunks(ids):
        bumped += conn.execute(
            f"UPDATE queue SET retry_count = retry_count + 1 WHERE event_id IN ({marks})", chunk
        ).rowcount
    return bumped


def _result_id(result: DeliveryResult | Mapping[str, Any]) -> Any:
    return result.event_id if isinstance(result, DeliveryResult) else result.get("event_id")


def _split_results(
    results: Iterable[DeliveryResult | Mapping[str, Any]],
) -> tuple[list[str], list[str]]:
    """(ids whose rows go, ids whose retry count grows), refusing any malformed result."""
    remove: list[str] = []
    retry: list[str] = []
    for index, result in enumerate(results, start=1):
        if isinstance(result, DeliveryResult):
            event_id, status = result.event_id, result.status
        elif isinstance(result, Mapping):
            event_id, status = result.get("event_id"), result.get("status")
        else:
            raise InvalidEvent(f"result {index} is a {type(result).__name__}, not a result")
        if not isinstance(event_id, str) or not event_id:
            raise InvalidEvent(f"result {index} has no event_id")
        try:
            status = DeliveryStatus(status)
        except ValueError:
            raise InvalidEvent(f"result {index} has unknown status {status!r}") from None
        (remove if status in _REMOVING else retry).append(event_id)
    return list(dict.fromkeys(remove)), list(dict.fromkeys(retry))


def _write_lines(target: Path, rows: Iterable[tuple[Any, ...]]) -> int:
    """Write rows to a temporary file (0600, never through a planted symlink), fsync, then move
    it over `target`."""
    temporary = target.with_name(target.name + ".tmp")
    try:
        with open_private(temporary) as raw, \
                io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as handle:
            written = _dump_rows(handle, rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
    return written


def _dump_rows(handle: TextIO, rows: Iterable[tuple[Any, ...]]) -> int:
    written = 0
    for body, *fields in rows:
        handle.write(body if body is not None else _raw_line(*fields))
        handle.write("\n")
        written += 1
    return written


def _raw_line(event_id: Any, event_type: Any, aggregate_id: Any, payload: Any,
              timestamp: Any) -> str:
    """A damaged legacy row, written as found so that clearing it loses nothing.

    ASCII-escaped: a damaged row may hold bytes that are not UTF-8 (kept as `\\udcXX` escapes)
    or BLOBs (written as their bytes decoded the same way).
    """
    with contextlib.suppress(TypeError, ValueError, RecursionError):
        payload = json.loads(payload)
    record = {"event_id": event_id, "event_type": event_type, "aggregate_id": aggregate_id,
              "payload": payload, "timestamp": timestamp}
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=_blob_text)


def _blob_text(value: Any) -> str:
    if isinstance(value, bytes):
        return _decode_lenient(value)
    raise TypeError(f"{type(value).__name__} in a queue row")


def _warn_evicted(count: int, path: Path) -> None:
    print(
        f"eventsync: warning: offline queue full; evicted {count} oldest event(s) from {path}",
        file=sys.stderr, flush=True,
    )


def _positive(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}, not {value!r}")
    return value


def open_target_queue(target: Target | None, home: Path | None,
                      config: EventSyncConfig) -> OfflineQueue:
    """The bounded offline queue for `target`'s scope (`queue.db` when there is no target).

    The file name follows the legacy rule (`queue-<digest>.db` over `url|user|team`), so files
    written here are exactly what `sync migrate` knows how to read.
    """
    scope = None
    if target is not None:
        scope = build_queue_scope(target.url, target.options.get("user"),
                                  target.options.get("team"))
    return OfflineQueue(default_queue_db_path(scope, home), max_queue_size=config.max_queue_size,
                        coalesce_types=config.coalesce_types)


def enqueue_for_target(target: Target | None, home: Path | None, config: EventSyncConfig,
                       event: Event) -> None:
    """Queue one event in `target`'s offline queue, opened for just this write."""
    queue = open_target_queue(target, home, config)
    try:
        if not queue.queue_event(event):
            raise StorageError(f"could not write to the offline queue {queue.path}")
    finally:
        queue.close()
