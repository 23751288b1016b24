"""Real processes for end-to-end tests: `eventsync stub serve` in a subprocess, and polling.

Tests wait on conditions, never on fixed sleeps: `wait_until` polls with a deadline, so a busy
machine only makes a test slower, not red.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 20.0, interval: float = 0.02,
               what: str | None = None) -> T:
    """Poll `probe` until it returns something truthy; fail the test when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)


class StubProcess:
    """`eventsync stub serve --port 0 ...` in a subprocess; asks it what it received."""

    def __init__(self, eventsync_bin: str, *args: str) -> None:
        self.proc = subprocess.Popen([eventsync_bin, "stub", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"stub did not start: {first!r} {self.proc.stderr.read()}")
        # stderr is not read from here on: drop it so a chatty stub can never block on a pipe
        self.proc.stderr.close()
        self.url = first.removeprefix("listening on ")

    def received(self) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/_stub/events", timeout=10)
        reply.raise_for_status()
        return reply.json()

    def events(self) -> list[dict[str, Any]]:
        body = self.received()
        assert body["count"] == len(body["events"])
        return body["events"]

    def event_ids(self) -> list[str]:
        return [event["event_id"] for event in self.received()["events"]]

    def batch_requests(self) -> int:
        return int(self.received()["batch_requests"])

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/api/v1/sync/health/", timeout=10).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
