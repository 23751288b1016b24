"""Fixtures for the offline queue tests: a queue file in tmp_path, events, raw reads of the file."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eventsync.queue.offline_queue import OfflineQueue

_serial = itertools.count()


@pytest.fixture(autouse=True)
def audit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Evictions audit into the eventsync home: keep it in tmp_path, never the user's."""
    path = tmp_path / "eventsync-home"
    monkeypatch.setenv("EVENTSYNC_HOME", str(path))
    return path


@pytest.fixture
def qpath(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """A valid event dict; each call a new aggregate unless one is given."""

    def make(event_type: str = "WPCreated", aggregate_id: str | None = None,
             project: str | None = None, **payload: Any) -> dict[str, Any]:
        n = next(_serial)
        event: dict[str, Any] = {
            "event_type": event_type,
            "aggregate_id": aggregate_id or f"WP{n:05d}",
            "payload": payload or {"n": n},
        }
        if project is not None:
            event["producer"] = {"user": "ana", "team": "core", "project": project}
        return event

    return make


@pytest.fixture
def queue(qpath: Path):
    q = OfflineQueue(qpath, max_queue_size=5, coalesce_types=("WPStatus",))
    yield q
    q.close()


@pytest.fixture
def disk() -> Callable[..., list[tuple[Any, ...]]]:
    """Rows as stored, read through a separate plain connection: what another reader sees."""

    def read(path: Path, columns: str = "event_id") -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(path)
        try:
            return conn.execute(f"SELECT {columns} FROM queue ORDER BY id").fetchall()
        finally:
            conn.close()

    return read
