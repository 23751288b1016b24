"""Helpers for plugin authors: check a receiver against the contract in three lines.

    from eventsync.testing import check_receiver, sample_events
    def test_my_receiver(my_server_url):
        check_receiver(MyReceiver, url=my_server_url)

`check_receiver` raises `AssertionError` naming the broken rule, so a receiver's own test suite
states the contract without restating it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsync.delivery.targets import target_identity
from eventsync.events import Event, build_event
from eventsync.receivers import DeliveryReceiver, DeliveryResult, DeliveryStatus, Target


def sample_events(count: int = 3, *, event_type: str = "ReceiverCheck") -> list[Event]:
    """Valid events with canonical JSON, as the dispatcher would hand them to `deliver()`."""
    return [build_event({"event_type": event_type, "aggregate_id": f"check-{i}",
                         "payload": {"index": i, "text": "héllo"}}) for i in range(count)]


def make_target(type_name: str, url: str, options: dict[str, str] | None = None,
                name: str = "check") -> Target:
    """A Target as the registry would build it."""
    opts = dict(options or {})
    return Target(name, type_name, url, opts, target_identity(type_name, url, opts))


def check_receiver(
    receiver: type[DeliveryReceiver] | DeliveryReceiver,
    events: Sequence[Event] | None = None,
    *,
    url: str = "http://127.0.0.1:9",
    options: dict[str, str] | None = None,
    expect: DeliveryStatus | None = None,
) -> list[DeliveryResult]:
    """Run `receiver` over `events` and assert the contract (CONTRACTS.md §4); return results.

    Checks: a non-empty `type_name`; `preflight()` passes; `deliver()` returns a list with exactly
    one `DeliveryResult` per event, each with a `DeliveryStatus`; and, when `expect` is given,
    that every result has that status.
    """
    instance = _instantiate(receiver, url, options)
    assert instance.type_name, f"{type(instance).__name__} has no type_name"
    batch = list(events) if events is not None else sample_events()
    instance.preflight()
    try:
        results = instance.deliver(batch)
    finally:
        instance.close()
    _check_results(batch, results)
    if expect is not None:
        wrong = [r for r in results if r.status is not expect]
        assert not wrong, f"expected every result to be {expect}, got {wrong[:3]}"
    return results


def _instantiate(receiver: Any, url: str, options: dict[str, str] | None) -> DeliveryReceiver:
    if isinstance(receiver, DeliveryReceiver):
        return receiver
    assert isinstance(receiver, type) and issubclass(receiver, DeliveryReceiver), (
        f"{receiver!r} is not a DeliveryReceiver subclass"
    )
    return receiver(make_target(receiver.type_name, url, options))


def _check_results(batch: list[Event], results: Any) -> None:
    assert isinstance(results, list), f"deliver() must return a list, got {type(results)}"
    assert all(isinstance(r, DeliveryResult) for r in results), (
        "deliver() must return DeliveryResult objects"
    )
    sent = [e.event_id for e in batch]
    got = [r.event_id for r in results]
    assert sorted(got) == sorted(sent), (
        f"deliver() must return one result per event: sent {len(sent)}, got {len(got)}"
        f" (missing {sorted(set(sent) - set(got))[:3]}, extra {sorted(set(got) - set(sent))[:3]})"
    )
    assert all(isinstance(r.status, DeliveryStatus) for r in results), "statuses must be valid"
