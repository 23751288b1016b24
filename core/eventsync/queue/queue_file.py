"""The offline queue's file: spec-kitty's `queue` table (schema S2), its upgrades, and the
whole-file reads and writes (SPEC-KITTY-COMPAT.md §2.2).

S2 is the table spec-kitty-cli 2.1.0-3.2.5 writes; S1 (spec-kitty 2.0.x) lacks `coalesce_key`
and gains it with ADD COLUMN, exactly as spec-kitty upgrades it, so a file upgraded here still
opens in spec-kitty. No `PRAGMA user_version` is used: spec-kitty does not use it. A file in
eventsync's own earlier layout (`aggregate_id`, `payload`, `body` columns) is converted once,
in one transaction, to S2; a row that cannot be read as an event is kept as it was found.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from eventsync.errors import StorageError
from eventsync.events import build_event
from eventsync.home import open_private
from eventsync.store import describe_sqlite_error, sqlite_errors

CREATE_S2 = """
CREATE TABLE queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    retry_count INTEGER DEFAULT 0,
    coalesce_key TEXT
)
"""
INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_timestamp ON queue(timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_retry ON queue(retry_count)",
    "CREATE INDEX IF NOT EXISTS idx_coalesce_key ON queue(coalesce_key)",
)
COUNT = "SELECT COUNT(*) FROM queue"
ALL_ROWS = "SELECT data FROM queue ORDER BY timestamp, id"
_EARLIER = "queue_eventsync_earlier"
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")
_S2_INSERT = ("INSERT OR IGNORE INTO queue (event_id, event_type, data, timestamp, retry_count,"
              " coalesce_key) VALUES (?, ?, ?, ?, ?, ?)")


def migrate_file(conn: sqlite3.Connection, path: Path) -> None:
    """Create the S2 table, or bring an S1 / earlier-eventsync table to S2, in one transaction."""
    with transaction(conn, path):
        columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
        if not columns:
            conn.execute(CREATE_S2)
        elif "data" in columns:
            if not {"event_id", "event_type", "timestamp"} <= columns:
                raise _foreign(path)
            if "coalesce_key" not in columns:
                conn.execute("ALTER TABLE queue ADD COLUMN coalesce_key TEXT")
            if "retry_count" not in columns:
                conn.execute("ALTER TABLE queue ADD COLUMN retry_count INTEGER DEFAULT 0")
        elif {"event_id", "event_type", "aggregate_id"} <= columns and (
                "payload" in columns or "body" in columns):
            _convert_earlier(conn, columns)
        else:
            raise _foreign(path)
        for statement in INDEXES:
            conn.execute(statement)


def _foreign(path: Path) -> StorageError:
    return StorageError(f"database {path} has a queue table that is not spec-kitty's or"
                        " eventsync's; it is not an offline queue file")


def _convert_earlier(conn: sqlite3.Connection, columns: set[str]) -> None:
    """eventsync's earlier layout to S2: `data` is the stored event JSON, or the event rebuilt
    from its columns; the enqueue time is now, so the old order (by id) is kept."""
    wanted = [name for name in ("event_id", "event_type", "aggregate_id", "payload", "timestamp",
                                "body", "retry_count", "coalesce_key") if name in columns]
    conn.execute(f"ALTER TABLE queue RENAME TO {_EARLIER}")
    with lenient_text(conn):
        rows = conn.execute(f"SELECT id, {', '.join(wanted)} FROM {_EARLIER} ORDER BY id"
                            ).fetchall()
    conn.execute(f"DROP TABLE {_EARLIER}")
    conn.execute(CREATE_S2)
    now = int(time.time())
    converted = []
    for row_id, *values in rows:
        fields = dict(zip(wanted, values, strict=True))
        given = fields.get("event_id")
        event_id = given if given and _storable(given) == given else f"damaged-{row_id}"
        converted.append((event_id, _storable(fields.get("event_type")) or "",
                          _earlier_data(fields), now, _count(fields.get("retry_count")),
                          _storable(fields.get("coalesce_key"))))
    conn.executemany(_S2_INSERT, converted)
    conn.execute("PRAGMA user_version = 0")


def _storable(value: Any) -> str | None:
    """Text SQLite can store again (a damaged row's bytes may not be UTF-8), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _earlier_data(fields: dict[str, Any]) -> str:
    """The row's envelope: its stored event JSON when intact, else rebuilt from the columns,
    else (a damaged row) the columns as found, which drains skip and `drain_to_file` keeps."""
    body = fields.get("body")
    with contextlib.suppress(TypeError, ValueError, RecursionError):
        if isinstance(body, str):
            return build_event(json.loads(body)).to_json()
    with contextlib.suppress(TypeError, ValueError, RecursionError):
        if fields.get("event_id") is not None:
            return build_event({
                "event_id": fields["event_id"], "event_type": fields["event_type"],
                "aggregate_id": fields["aggregate_id"],
                "payload": json.loads(fields.get("payload")),
                "timestamp": earlier_timestamp(fields.get("timestamp")),
            }).to_json()
    damaged = {key: fields.get(key) for key in ("event_id", "event_type", "aggregate_id",
                                                "payload", "timestamp")}
    return json.dumps({"damaged_row": damaged}, sort_keys=True, default=_blob_text)


def earlier_timestamp(value: Any) -> Any:
    """Earlier queues stored epoch seconds or milliseconds, or ISO times with an offset; those
    become `...Z`. Anything else passes through for validation to judge."""
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
def lenient_text(conn: sqlite3.Connection) -> Iterator[None]:
    """Read TEXT that is not valid UTF-8 (a damaged row) instead of failing the whole query;
    the bad bytes become lone surrogates, which event validation refuses."""
    conn.text_factory = _decode_lenient
    try:
        yield
    finally:
        conn.text_factory = str


def _decode_lenient(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _blob_text(value: Any) -> str:
    if isinstance(value, bytes):
        return _decode_lenient(value)
    raise TypeError(f"{type(value).__name__} in a queue row")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
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


def write_lines(target: Path, rows: Iterable[tuple[Any, ...]]) -> int:
    """Write each row's envelope as one line to a temporary file (0600, never through a planted
    symlink), fsync, then move it over `target`."""
    temporary = target.with_name(target.name + ".tmp")
    try:
        with open_private(temporary) as raw, \
                io.TextIOWrapper(raw, encoding="utf-8", newline="\n",
                                 errors="surrogateescape") as handle:
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
    for (data,) in rows:
        handle.write(_line(data))
        handle.write("\n")
        written += 1
    return written


def _line(data: Any) -> str:
    """An intact envelope as stored; anything else as a JSON string, so the file stays JSONL."""
    if isinstance(data, str) and "\n" not in data:
        with contextlib.suppress(ValueError, RecursionError):
            if isinstance(json.loads(data), dict):
                return data
    text = data if isinstance(data, str) else _blob_text(data) if isinstance(data, bytes) \
        else str(data)
    return json.dumps({"damaged_row": text}, ensure_ascii=True)
