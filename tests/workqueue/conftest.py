"""Fixtures for the work-queue tests: queue files, second clients, stub receivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from wq_helpers import StubProcess

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


@pytest.fixture
def stub(eventsync_bin: str, home: Path) -> Iterator[Callable[..., StubProcess]]:
    """Start `eventsync stub serve` subprocesses with fault options; stopped at teardown."""
    started: list[StubProcess] = []

    def start(*args: str) -> StubProcess:
        server = StubProcess(eventsync_bin, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
