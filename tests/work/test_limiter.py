"""KeyedLimiter: the cap holds under contention, limits change live, memory stays bounded."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from support.processes import wait_until

from eventsync.work import KeyedLimiter, host_key


def test_cap_is_never_exceeded_under_contention() -> None:
    limiter = KeyedLimiter(2, per_key={"wide": 3})
    active: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    lock = threading.Lock()

    def enter(key: str) -> None:
        with lock:
            active[key] += 1
            peak[key] = max(peak[key], active[key])
        time.sleep(0.001)
        with lock:
            active[key] -= 1

    def worker(n: int) -> None:
        key = ("narrow", "wide")[n % 2]
        for _ in range(25):
            if n % 4 == 3:
                if limiter.try_acquire(key, timeout=0.5):
                    try:
                        enter(key)
                    finally:
                        limiter.release(key)
            else:
                with limiter.hold(key):
                    enter(key)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == {"narrow": 2, "wide": 3}
    assert limiter.holders("narrow") == limiter.holders("wide") == 0


def test_try_acquire_without_timeout_does_not_wait() -> None:
    limiter = KeyedLimiter(1)
    assert limiter.try_acquire("k")
    assert not limiter.try_acquire("k")
    assert not limiter.try_acquire("k", timeout=0.01)
    limiter.release("k")
    assert limiter.try_acquire("k", timeout=0)


def test_set_limit_applies_to_the_next_acquisition_at_once() -> None:
    limiter = KeyedLimiter(1)
    limiter.acquire("k")
    assert not limiter.try_acquire("k")
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (limiter.acquire("k"), got.set()), daemon=True)
    waiter.start()
    assert not got.wait(0.1)
    limiter.set_limit("k", 2)
    assert got.wait(10)
    waiter.join()
    assert (limiter.get_limit("k"), limiter.holders("k")) == (2, 2)
    limiter.set_limit("k", 1)
    limiter.release("k")
    assert not limiter.try_acquire("k")
    limiter.release("k")
    assert limiter.try_acquire("k")
    limiter.set_limit("fresh", 3)
    assert all(limiter.try_acquire("fresh") for _ in range(3))
    assert not limiter.try_acquire("fresh")
    with pytest.raises(ValueError):
        limiter.set_limit("k", 0)


def test_release_of_a_key_not_held_raises() -> None:
    limiter = KeyedLimiter(2)
    with pytest.raises(RuntimeError, match="not held"):
        limiter.release("never")
    with limiter.hold("k"):
        pass
    with pytest.raises(RuntimeError):
        limiter.release("k")
    assert limiter.holders("k") == 0


def test_idle_entries_are_recycled_and_held_ones_kept() -> None:
    limiter = KeyedLimiter(1, idle_ttl_sec=0.05)
    with limiter.hold("idle"):
        pass
    limiter.acquire("held")
    assert len(limiter) == 2

    def swept() -> bool:
        assert not limiter.try_acquire("held")  # also gives the limiter its chance to sweep
        return len(limiter) == 1

    wait_until(swept, timeout=10)
    time.sleep(0.2)
    assert not limiter.try_acquire("held")
    assert limiter.holders("held") == 1
    limiter.release("held")
    assert limiter.try_acquire("held")


def test_memory_stays_bounded_over_100k_distinct_keys() -> None:
    limiter = KeyedLimiter(2)
    pinned = [f"pinned-{n}" for n in range(5)]
    for key in pinned:
        limiter.acquire(key)
    most = 0
    for n in range(100_000):
        key = f"host-{n}.example.com"
        limiter.acquire(key)
        limiter.release(key)
        most = max(most, len(limiter))
    assert most <= 10_010
    assert all(limiter.holders(key) == 1 for key in pinned)
    for key in pinned:
        limiter.release(key)


@pytest.mark.parametrize(("url", "key"), [
    ("https://Sync.Example.COM/api/v1", "sync.example.com"),
    ("https://sync.example.com:443/", "sync.example.com"),
    ("http://sync.example.com:80", "sync.example.com"),
    ("https://sync.example.com:80/", "sync.example.com:80"),
    ("http://127.0.0.1:8765/x", "127.0.0.1:8765"),
    ("http://user:secret@Host.example:9000/p?q=1", "host.example:9000"),
    ("HOST.example:7000", "host.example:7000"),
    ("localhost", "localhost"),
    ("http://[::1]:8080/", "[::1]:8080"),
    ("https://[::1]/", "[::1]"),
])
def test_host_key_is_canonical(url: str, key: str) -> None:
    assert host_key(url) == key
