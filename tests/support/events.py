"""Helpers shared by the stub tests."""

from __future__ import annotations

from eventsync.events import Event, build_event


def make_events(count: int, *, event_type: str = "WPStatusChanged", pad: int = 0,
                prefix: str = "WP") -> list[Event]:
    """Valid events with their canonical JSON, as the dispatcher hands them to a receiver."""
    return [build_event({"event_type": event_type, "aggregate_id": f"{prefix}{i:03d}",
                         "payload": {"step": i, "pad": "x" * pad}}) for i in range(count)]
