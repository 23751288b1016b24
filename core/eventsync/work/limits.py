"""KeyedLimiter: at most N concurrent holders per key (per host), with bounded memory.

Entries are created on first use and recycled once they have had no holder for `idle_ttl_sec`,
so millions of distinct keys over a long life do not grow memory without bound. An entry with a
holder is never recycled: its count is what enforces the limit.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_IDLE_ENTRIES = 10_000


def host_key(url: str) -> str:
    """`host` or `host:port` (default ports dropped), lower-cased; bare `host:port` accepted."""
    text = url.strip()
    parts = urlsplit(text if "//" in text else f"//{text}")
    host = (parts.hostname or text).lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:
        host = f"[{host}]"
    if port is None or DEFAULT_PORTS.get(parts.scheme.lower()) == port:
        return host
    return f"{host}:{port}"


@dataclass
class _Entry:
    limit: int
    holders: int = 0
    idle_since: float = 0.0


class KeyedLimiter:
    """Per-key semaphores created on demand."""

    def __init__(self, default_limit: int, per_key: dict[str, int] | None = None,
                 idle_ttl_sec: float = 3600) -> None:
        if default_limit < 1:
            raise ValueError("default_limit must be at least 1")
        self.default_limit = default_limit
        self.per_key = dict(per_key or {})
        self.idle_ttl_sec = idle_ttl_sec
        self._entries: dict[str, _Entry] = {}
        self._cond = threading.Condition()
        self._last_sweep = time.monotonic()

    def acquire(self, key: str) -> None:
        """Block until `key` has a free slot, then take it."""
        self.try_acquire(key, timeout=float("inf"))

    def try_acquire(self, key: str, timeout: float | None = None) -> bool:
        """Take a slot, waiting up to `timeout` seconds (None: don't wait)."""
        deadline = None if timeout is None or timeout == float("inf") else (
            time.monotonic() + timeout)
        with self._cond:
            self._sweep()
            entry = self._entry(key)
            while entry.holders >= entry.limit:
                if timeout is None:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
                entry = self._entry(key)
            entry.holders += 1
            return True

    def release(self, key: str) -> None:
        """Give a slot back; releasing a key that is not held is a bug and raises."""
        with self._cond:
            entry = self._entries.get(key)
            if entry is None or entry.holders == 0:
                raise RuntimeError(f"release of {key!r}, which is not held")
            entry.holders -= 1
            if entry.holders == 0:
                entry.idle_since = time.monotonic()
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self.acquire(key)
        try:
            yield
        finally:
            self.release(key)

    def get_limit(self, key: str) -> int:
        return self.per_key.get(key, self.default_limit)

    def set_limit(self, key: str, limit: int) -> None:
        """Change a key's limit; it applies to the next acquisitions at once."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._cond:
            self.per_key[key] = limit
            if key in self._entries:
                self._entries[key].limit = limit
            self._cond.notify_all()

    def holders(self, key: str) -> int:
        with self._cond:
            entry = self._entries.get(key)
            return entry.holders if entry else 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._entries)

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(self.get_limit(key), idle_since=time.monotonic())
            self._entries[key] = entry
        return entry

    def _sweep(self) -> None:
        """Drop entries idle for the TTL, and the longest-idle ones past `MAX_IDLE_ENTRIES`.

        Runs a few times per TTL, or when the table grows past the cap, so it is amortised
        O(1). Recycling an idle entry early is safe: a new one gets the same limit.
        """
        now = time.monotonic()
        crowded = len(self._entries) > MAX_IDLE_ENTRIES
        if not crowded and now - self._last_sweep < min(self.idle_ttl_sec / 4, 60.0):
            return
        self._last_sweep = now
        cutoff = now - self.idle_ttl_sec
        idle = sorted((e.idle_since, k) for k, e in self._entries.items() if e.holders == 0)
        excess = max(0, len(self._entries) - MAX_IDLE_ENTRIES // 2) if crowded else 0
        for rank, (since, key) in enumerate(idle):
            if since <= cutoff or rank < excess:
                del self._entries[key]
