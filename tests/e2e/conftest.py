"""Real stub receivers in subprocesses, for tests that drive the CLI end to end."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests


class StubProcess:
    """`eventsync stub serve` in a subprocess; `.events()` asks it what it received."""

    def __init__(self, eventsync_bin: str, *args: str) -> None:
        self.proc = subprocess.Popen([eventsync_bin, "stub", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"stub did not start: {first!r} {self.proc.stderr.read()}")
        self.url = first.removeprefix("listening on ")

    def events(self) -> list[dict[str, Any]]:
        reply = requests.get(f"{self.url}/_stub/events", timeout=10)
        reply.raise_for_status()
        body = reply.json()
        assert body["count"] == len(body["events"])
        return body["events"]

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/api/v1/sync/health/", timeout=10).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def stub(eventsync_bin: str) -> Iterator[Callable[..., StubProcess]]:
    """Start stub receivers with fault options; all are stopped at teardown."""
    started: list[StubProcess] = []

    def start(*args: str) -> StubProcess:
        server = StubProcess(eventsync_bin, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
