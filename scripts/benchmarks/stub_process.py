"""The stub receiver in its own process, for benchmarks: server and client get a core each."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "eventsync"


class Stub:
    """`eventsync stub serve --port 0`; usable as a context manager or with `stop()`."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([str(BIN), "stub", "serve", "--port", "0"],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip().removeprefix("listening on ")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)

    def __enter__(self) -> Stub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
