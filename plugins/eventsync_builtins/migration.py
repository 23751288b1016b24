"""Built-in migration sources for `sync migrate`: legacy OfflineQueue files and JSON Lines.

A source finds its files (`discover`), may say which server scope a file belongs to
(`scope_digest`), and reads records (`read`); the core validates, de-duplicates, records
provenance and writes. Sources never modify what they read: queue files are opened read-only.
See docs/lifecycle.md for the interface.

Queue files are spec-kitty's (SPEC-KITTY-COMPAT.md §2): a home holds `queue.db` (no scope,
unless `active_queue_scope` names one) and `queues/queue-<16 or 64 hex>.db`; the `queue` table
keeps the full envelope in `data` (S1 and S2 alike). eventsync's earlier layout (`aggregate_id`
and `payload` columns) is still read.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import eventsync

_QUEUE_NAME = re.compile(r"^queue(?:-(.+))?\.db$")
ACTIVE_SCOPE = "active_queue_scope"
_DIGEST = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{64})$")
QUEUES_DIR = "queues"
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")
_REQUIRED = ("event_id", "event_type", "aggregate_id", "payload")
_OPTIONAL = ("timestamp", "body")


class OfflineQueueFiles:
    """`queue.db` and every `queue-<digest>.db`: the bounded OfflineQueue's file layout."""

    name = "offline-queue"
    description = "legacy OfflineQueue files: queue.db and queue-<digest>.db"

    def discover(self, path: Path) -> list[Path]:
        """A spec-kitty (or eventsync) home: `queue.db`, and `queue-<digest>.db` beside it or in
        its `queues/` folder; a file given by name is read whatever it is called."""
        if path.is_dir():
            found = [*path.glob("queue*.db"), *(path / QUEUES_DIR).glob("queue*.db")]
            return sorted(p for p in found if p.is_file() and _QUEUE_NAME.match(p.name))
        return [path] if path.suffix == ".db" else []

    def scope_digest(self, file: Path) -> str | None:
        """The digest in `queue-<digest>.db`; for `queue.db`, the digest of the scope its home's
        `active_queue_scope` names; None when the file's scope cannot be known."""
        match = _QUEUE_NAME.match(file.name)
        if match and match.group(1) is None:
            return _active_scope_digest(file.parent)
        digest = match.group(1).lower() if match else None
        return digest if digest and _DIGEST.match(digest) else None

    def read(self, file: Path) -> Iterator[tuple[str, Any]]:
        """Every row, oldest first, as `(where, event mapping or the reason it is damaged)`."""
        with contextlib.closing(_open_read_only(file)) as conn:
            rows = _queue_rows(conn, file)
        for row_id, data in rows:
            yield f"row {row_id}", _row_event(data)


def _open_read_only(file: Path) -> sqlite3.Connection:
    """Read without changing anything beside the file.

    A read-only open of a WAL database creates `-wal`/`-shm` sidecars it cannot remove. With no
    `-wal` present no connection has the file open in WAL mode, so it is read as immutable;
    otherwise the WAL holds committed rows and must be read through it.
    """
    mode = "mode=ro" if file.with_name(file.name + "-wal").exists() else "immutable=1"
    conn = sqlite3.connect(f"{file.resolve().as_uri()}?{mode}", uri=True)
    # A damaged row's TEXT may not be UTF-8: sqlite3 would raise on it and cost the whole file.
    # Its bytes become lone surrogates instead, which validation reports as that row's damage.
    conn.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
    return conn


def _active_scope_digest(home: Path) -> str | None:
    """`active_queue_scope` holds the un-hashed scope (spec-kitty ≤3.2.5, stripped on read):
    its 16-hex file digest. A value that already is a digest is taken as it is."""
    try:
        scope = (home / ACTIVE_SCOPE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not scope:
        return None
    if _DIGEST.match(scope.lower()):
        return scope.lower()
    return hashlib.sha256(scope.encode("utf-8")).hexdigest()[:16]


def _queue_rows(conn: sqlite3.Connection, file: Path) -> list[tuple[Any, Any]]:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
    if not columns:
        raise eventsync.MigrationError(f"{file.name} has no queue table")
    if {"event_id", "data"} <= columns:
        order = "timestamp, id" if "timestamp" in columns else "id"
        cur = conn.execute(f"SELECT id, event_id, data FROM queue ORDER BY {order}")
        return [(row_id, {"event_id": event_id, "data": data}) for row_id, event_id, data in cur]
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        raise eventsync.MigrationError(
            f"{file.name}: the queue table lacks column(s) {', '.join(missing)}")
    wanted = [*_REQUIRED, *(name for name in _OPTIONAL if name in columns)]
    order = "id" if "id" in columns else "rowid"
    cur = conn.execute(f"SELECT {order}, {', '.join(wanted)} FROM queue ORDER BY {order}")
    return [(row[0], dict(zip(wanted, row[1:], strict=True))) for row in cur]


def _envelope(data: dict[str, Any]) -> Any:
    """spec-kitty's row: `data` is the whole envelope; its `event_id` column is the id kept."""
    try:
        envelope = json.loads(data["data"])
    except (TypeError, ValueError, RecursionError) as exc:
        return eventsync.InvalidEvent(f"data is not valid JSON ({exc})")
    if not isinstance(envelope, dict):
        return eventsync.InvalidEvent("data is not a JSON object")
    if envelope.get("event_id") is None and isinstance(data["event_id"], str):
        envelope["event_id"] = data["event_id"]
    return envelope


def _row_event(data: dict[str, Any]) -> Any:
    """The row's stored event JSON when it has one, else the event rebuilt from its columns."""
    if "data" in data:
        return _envelope(data)
    body = data.get("body")
    if body is not None:
        try:
            return json.loads(body)
        except (TypeError, ValueError, RecursionError) as exc:
            return eventsync.InvalidEvent(f"stored event JSON is damaged ({exc})")
    try:
        payload = json.loads(data["payload"])
    except (TypeError, ValueError, RecursionError) as exc:
        return eventsync.InvalidEvent(f"payload is not valid JSON ({exc})")
    event = {key: data[key] for key in ("event_id", "event_type", "aggregate_id")}
    event["payload"] = payload
    if data.get("timestamp") is not None:
        event["timestamp"] = _timestamp(data["timestamp"])
    return event


def _timestamp(value: Any) -> Any:
    """Older queues wrote epoch numbers (as numbers, or as digits in a TEXT column) or
    offset-style ISO times; bring them to `...Z`.

    A value that cannot be read is passed through unchanged, so validation names it.
    """
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return value
    if isinstance(value, str) and _EPOCH.fullmatch(value):
        value = float(value)  # a TEXT column stores an epoch number as its digits
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    except (ValueError, OverflowError, OSError):
        return value
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonLinesArchives:
    """`*.jsonl` / `*.jsonl.gz`: what `sync archive` and `OfflineQueue.drain_to_file` write."""

    name = "jsonl"
    description = "JSON Lines archives (sync archive, drain_to_file), optionally gzipped"

    def discover(self, path: Path) -> list[Path]:
        if path.is_dir():
            found = [*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")]
            return sorted(p for p in found if p.is_file())
        return [path] if path.name.endswith((".jsonl", ".jsonl.gz")) else []

    def read(self, file: Path) -> Iterator[tuple[str, Any]]:
        """Every non-blank line as an event mapping; an archive's `ledger` key is dropped."""
        with _open_text(file) as handle:
            lines = list(handle)
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield f"line {number}", _line_event(line)


def _open_text(file: Path) -> TextIO:
    if file.name.endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8")
    return open(file, encoding="utf-8")


def _line_event(line: str) -> Any:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:  # deep nesting raises RecursionError
        return eventsync.InvalidEvent(f"not valid JSON ({exc})")
    if isinstance(data, dict):
        data.pop("ledger", None)
    return data


@eventsync.hookimpl(trylast=True)
def register_migration_sources(register: Callable[[type], None]) -> None:
    """Built-in migration sources; trylast so a third party's hook runs first."""
    register(OfflineQueueFiles)
    register(JsonLinesArchives)
