"""Helpers for the work-queue tests: a stub receiver in a subprocess, events, polling."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

WORKER = Path(__file__).with_name("wq_worker.py")
T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 20.0, interval: float = 0.02) -> T:
    """Poll `probe` until it returns something truthy; fail the test when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {probe}")
        time.sleep(interval)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file as another program would, bypassing WorkQueue."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def worker(mode: str, db: Path, *args: str) -> subprocess.Popen[str]:
    """`wq_worker.py MODE DB ...` in its own Python process."""
    return subprocess.Popen([sys.executable, str(WORKER), mode, str(db), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def jsonl(count: int, prefix: str = "WP") -> str:
    return "".join(json.dumps({"event_type": "WPStatusChanged", "aggregate_id": f"{prefix}{i:03d}",
                               "payload": {"step": i}}) + "\n" for i in range(count))


class StubProcess:
    """`eventsync stub serve --port 0 ...` in a subprocess; asks it what it received."""

    def __init__(self, eventsync_bin: str, *args: str) -> None:
        self.proc = subprocess.Popen([eventsync_bin, "stub", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"stub did not start: {first!r}")
        self.url = first.removeprefix("listening on ")

    def received(self) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/_stub/events", timeout=10)
        reply.raise_for_status()
        return reply.json()

    def event_ids(self) -> list[str]:
        return [event["event_id"] for event in self.received()["events"]]

    def batch_requests(self) -> int:
        return int(self.received()["batch_requests"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
