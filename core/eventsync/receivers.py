"""The receiver contract: what a plugin implements to deliver batches to one type of target."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eventsync.errors import ReceiverNotReady
from eventsync.events import Event

__all__ = [
    "DeliveryReceiver",
    "DeliveryResult",
    "DeliveryStatus",
    "ReceiverNotReady",
    "Target",
]


class DeliveryStatus(enum.StrEnum):
    """Per-event outcome of a delivery attempt (CONTRACTS.md §4)."""

    SUCCESS = "success"
    DUPLICATE = "duplicate"
    PENDING = "pending"
    REJECTED = "rejected"
    FAILED_TRANSIENT = "failed_transient"
    FAILED_PERMANENT = "failed_permanent"

    @property
    def delivered(self) -> bool:
        """Terminal success: the target has the event."""
        return self in (DeliveryStatus.SUCCESS, DeliveryStatus.DUPLICATE)

    @property
    def terminal(self) -> bool:
        """Never selected again without an operator's `sync retry`."""
        return self.delivered or self is DeliveryStatus.FAILED_PERMANENT


@dataclass(frozen=True)
class DeliveryResult:
    """One event's outcome. `retry_after` (seconds) lets a receiver pass on a server's wish."""

    event_id: str
    status: DeliveryStatus
    detail: str = ""
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, DeliveryStatus):
            object.__setattr__(self, "status", DeliveryStatus(self.status))


@dataclass(frozen=True)
class Target:
    """Where events go: a name, a receiver type, a URL, options, and the canonical identity."""

    name: str
    type: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    identity: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    home: str | None = None


class DeliveryReceiver:
    """Base class for receivers. Subclasses set `type_name` and implement `deliver`.

    Gates (credentials, opt-ins, server refusals) belong in `preflight()`, which raises
    `ReceiverNotReady` with a one-line reason; the dispatcher then leaves every event due.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, target: Target) -> None:
        self.target = target

    def preflight(self) -> None:
        """Raise `ReceiverNotReady` when this target must not be posted to now."""

    def deliver(self, events: list[Event]) -> list[DeliveryResult]:
        """Post `events` and return one result per event."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Deployment facts the target reports (e.g. its health endpoint); empty when unknown."""
        return {}

    def close(self) -> None:
        """Release connections; called once the drain is over."""


def check_receiver_class(cls: Any) -> None:
    """Validate what a plugin registers, so a mistake fails at load naming the class."""
    if not (isinstance(cls, type) and issubclass(cls, DeliveryReceiver)):
        raise TypeError(f"{cls!r} is not a DeliveryReceiver subclass")
    name = getattr(cls, "type_name", "")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise TypeError(f"{cls.__name__}.type_name must be a non-empty identifier, got {name!r}")
