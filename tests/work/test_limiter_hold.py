"""KeyedLimiter slots come back whatever the holder does, and limits are per key."""

from __future__ import annotations

import pytest

from eventsync.work import KeyedLimiter, host_key


def test_hold_gives_the_slot_back_when_the_body_raises() -> None:
    limiter = KeyedLimiter(1)
    with pytest.raises(RuntimeError, match="boom"), limiter.hold("k"):
        assert not limiter.try_acquire("k")
        raise RuntimeError("boom")
    assert limiter.try_acquire("k")


def test_limits_are_per_canonical_host() -> None:
    limiter = KeyedLimiter(1, per_key={"wide.example:8443": 2})
    for url in ("https://WIDE.example:8443/a", "https://wide.example:8443/b"):
        assert limiter.try_acquire(host_key(url))
    assert not limiter.try_acquire(host_key("https://Wide.Example:8443/c"))
    assert limiter.try_acquire(host_key("https://narrow.example/"))
    assert not limiter.try_acquire(host_key("https://narrow.example:443/x"))
    assert limiter.get_limit("wide.example:8443") == 2 and len(limiter) == 2
