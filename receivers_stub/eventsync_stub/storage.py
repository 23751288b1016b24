"""What the stub server has received: in memory, or in a SQLite file that outlives the process.

Either way an `event_id` is held once, in arrival order, and `add` tells which events were new,
which is how the server knows to answer `duplicate`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any, Protocol


class EventStorage(Protocol):
    """The received-events store the server writes through."""

    def add(self, events: list[dict[str, Any]]) -> list[bool]:
        """Store each event whose id is not held yet; True where an event was new."""
        ...

    def held(self, event_id: str) -> bool: ...

    def events(self) -> list[dict[str, Any]]: ...

    def count(self) -> int: ...

    def instance_id(self) -> str:
        """This store's server_instance_id: new for memory, kept in the file for SQLite."""
        ...

    def close(self) -> None: ...


class MemoryStorage:
    """A dict keeps insertion order, so it is both the id index and the arrival log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, dict[str, Any]] = {}

    def add(self, events: list[dict[str, Any]]) -> list[bool]:
        fresh = []
        with self._lock:
            for event in events:
                new = event["event_id"] not in self._events
                if new:
                    self._events[event["event_id"]] = event
                fresh.append(new)
        return fresh

    def held(self, event_id: str) -> bool:
        return event_id in self._events

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events.values())

    def count(self) -> int:
        return len(self._events)

    def instance_id(self) -> str:
        return uuid.uuid4().hex

    def close(self) -> None:
        """Nothing to release."""


class SqliteStorage:
    """One connection shared by the handler threads behind a lock; a stub needs no more."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS stub_events ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " event_id TEXT NOT NULL UNIQUE,"
        " body TEXT NOT NULL)"
    )

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(self._SCHEMA)
        self._conn.execute("CREATE TABLE IF NOT EXISTS stub_meta (key TEXT PRIMARY KEY,"
                           " value TEXT NOT NULL)")

    def add(self, events: list[dict[str, Any]]) -> list[bool]:
        fresh = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    cursor = self._conn.execute(
                        "INSERT OR IGNORE INTO stub_events (event_id, body) VALUES (?, ?)",
                        (event["event_id"], _encode(event)),
                    )
                    fresh.append(cursor.rowcount == 1)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return fresh

    def held(self, event_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM stub_events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return row is not None

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT body FROM stub_events ORDER BY seq").fetchall()
        return [json.loads(body) for (body,) in rows]

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM stub_events").fetchone()[0]

    def instance_id(self) -> str:
        """Made once per file: a restarted stub on the same `--db` is the same instance, so
        eventsync raises no false "target may have been reset" advisory."""
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO stub_meta (key, value) VALUES"
                               " ('server_instance_id', ?)", (uuid.uuid4().hex,))
            row = self._conn.execute("SELECT value FROM stub_meta"
                                     " WHERE key = 'server_instance_id'").fetchone()
        return str(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_storage(db: str | Path | None) -> MemoryStorage | SqliteStorage:
    """Memory unless a database path is given."""
    return MemoryStorage() if db is None else SqliteStorage(db)


def _encode(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
