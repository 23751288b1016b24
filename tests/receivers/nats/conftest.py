"""Fixtures for the nats receiver tests: real nats-servers, stopped by PID at teardown."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats_helpers import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    """Start nats-servers (`token=`, `max_payload=`); every one is stopped at teardown."""
    started: list[NatsServer] = []

    def start(**options: Any) -> NatsServer:
        root = tmp_path / f"nats{len(started)}"
        root.mkdir()
        server = NatsServer(root, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def no_loop_thread_outlives_a_test() -> Iterator[None]:
    """Every receiver a test used was closed, and closing it ended its event-loop thread."""
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("eventsync-nats:")]
    assert left == [], f"event-loop threads still running: {left}"
