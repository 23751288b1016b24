"""Fixtures for the work-queue tests: queue files, second clients, stub receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsync.work import WorkQueue


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def wq(db: Path) -> Iterator[WorkQueue]:
    queue = WorkQueue(db)
    yield queue
    queue.close()


@pytest.fixture
def other(db: Path, wq: WorkQueue) -> Iterator[WorkQueue]:
    """A second client of the same file, with its own connections (another worker)."""
    queue = WorkQueue(db)
    yield queue
    queue.close()
