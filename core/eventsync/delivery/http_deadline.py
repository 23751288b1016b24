"""A whole-request deadline for `requests`: connect + send + read, not each socket read.

A socket timeout bounds one `recv`; a server that sends its headers and then one byte a second
never trips it and holds a drain (and every `sync now` queued behind it) for as long as it
likes. `requests` has no total timeout, so the session's connections register their socket with
the deadline of the request running on this thread, and one watchdog thread shuts that socket
down when the deadline passes. The blocked read then ends at once with a connection error,
which the caller reports as a timeout because `Deadline.fired` says so.

Only sessions that mount `DeadlineAdapter` get this (BatchClient mounts it on its own session);
through a proxy the per-read timeouts still apply, the total does not.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Deadline", "DeadlineAdapter", "deadline"]

_CURRENT = threading.local()


class Deadline:
    """One request's budget; `fired` is true once its sockets were cut for running over."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.when = time.monotonic() + seconds
        self.fired = False
        self.done = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def remaining(self) -> float:
        return max(0.0, self.when - time.monotonic())

    def watch(self, sock: Any) -> None:
        """Cut `sock` when the deadline passes (at once when it already has)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            late = self.fired
        if late:
            _cut(sock)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._sockets.clear()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run the requests made on this thread inside the block under one total `seconds`."""
    current = Deadline(seconds)
    previous = getattr(_CURRENT, "deadline", None)
    _CURRENT.deadline = current
    _WATCHDOG.arm(current)
    try:
        yield current
    finally:
        current.finish()
        _CURRENT.deadline = previous


def _cut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _register(sock: Any) -> None:
    current = getattr(_CURRENT, "deadline", None)
    if current is not None:
        current.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _register(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:  # a reused keep-alive connection
        _register(self.sock)
        return super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _register(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _register(self.sock)
        return super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections obey the thread's current `deadline()`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _Watchdog:
    """One daemon thread for every deadline of the process: a thread per request would cost
    more than a small batch's round trip."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, item: Deadline) -> None:
        """Fire `item` at its time unless it is done by then (done ones are dropped lazily)."""
        entry = (item.when, next(self._counter), item)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="eventsync-deadline",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait(5.0)
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                due = heapq.heappop(self._heap)[2]
            due.fire()


_WATCHDOG = _Watchdog()
