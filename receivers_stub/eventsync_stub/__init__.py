"""eventsync receiver plugin: stub — a real localhost HTTP receiver and its `stub` receiver type.

`StubServer` runs the server in-process (tests, demos); `eventsync stub serve` runs it as a
command. Neither needs credentials, and both bind 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StubReceiver", "StubServer"]


def __getattr__(name: str) -> Any:
    """Loading the plugin (every CLI call) must not pay for the HTTP server's imports."""
    if name == "StubServer":
        from eventsync_stub.server import StubServer

        return StubServer
    if name == "StubReceiver":
        from eventsync_stub.receiver import StubReceiver

        return StubReceiver
    raise AttributeError(f"module 'eventsync_stub' has no attribute {name!r}")
