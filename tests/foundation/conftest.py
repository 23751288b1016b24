"""Fixtures for the foundation: a journal in the test's home and a raw look at its database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsync.home import DB_NAME
from eventsync.journal import Journal


@pytest.fixture
def journal(home: Path) -> Iterator[Journal]:
    """`Journal.open()` on the test's EVENTSYNC_HOME, closed afterwards."""
    opened = Journal.open()
    yield opened
    opened.close()


@pytest.fixture
def rows_on_disk(home: Path):
    """Count journal rows with a separate plain sqlite3 connection: what is really committed."""

    def count() -> int:
        path = home / DB_NAME
        if not path.exists():
            return 0
        conn = sqlite3.connect(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "journal" not in tables:
                return 0
            return conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        finally:
            conn.close()

    return count
