"""Real stub servers on loopback (in-process and as `eventsync stub serve`) and events to post."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class ServeProcess:
    """`eventsync stub serve ...` in a subprocess, its URL read from the first stdout line."""

    def __init__(self, eventsync_bin: str, args: tuple[str, ...], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([eventsync_bin, "stub", "serve", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline().rstrip("\n")
        self.url = self.first_line.removeprefix("listening on ")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Signal the server; its exit code, remaining stdout and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err


@pytest.fixture
def serve(eventsync_bin: str, home: Any) -> Iterator[Callable[..., ServeProcess]]:
    """Start `eventsync stub serve` subprocesses; extra env via `env=`; all stopped at teardown."""
    started: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        proc = ServeProcess(eventsync_bin, args, {**os.environ, **(env or {})})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(signal.SIGKILL)
