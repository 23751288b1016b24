"""The receiver contract: what a plugin implements to deliver batches to one type of target."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from eventsync.errors import ReceiverNotReady, TargetError
from eventsync.events import Event

__all__ = [
    "ConfiguredReceiver",
    "DeliveryReceiver",
    "DeliveryResult",
    "DeliveryStatus",
    "ReceiverNotReady",
    "StoredBatch",
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

    @classmethod
    def many(cls, event_ids: list[str], statuses: list[DeliveryStatus]) -> list[DeliveryResult]:
        """Results without detail for a whole batch, several times cheaper than calling the class
        per event: a frozen dataclass's `__init__` sets each field through `object.__setattr__`,
        which at drain rates costs more than reading the server's answer."""
        defaults = {f.name: f.default for f in fields(cls)}
        make = object.__new__
        out = []
        for event_id, status in zip(event_ids, statuses, strict=True):
            result = make(cls)
            values = result.__dict__
            values.update(defaults)
            values["event_id"] = event_id
            values["status"] = status if status.__class__ is DeliveryStatus \
                else DeliveryStatus(status)
            out.append(result)
        return out


@dataclass(frozen=True)
class StoredBatch:
    """A batch as the journal stores it: event ids and canonical JSON, in drain order.

    A receiver that posts the stored JSON as it is (the batch HTTP contract does) splices
    `bodies` into its request and matches the answer by `event_ids`, so that no `Event` is built
    per event; `events` decodes them, once, for every other use.
    """

    event_ids: list[str]
    bodies: list[str]
    _events: list[Event] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, events: list[Event]) -> StoredBatch:
        """A batch of events already decoded (e.g. from an offline queue)."""
        batch = cls([e.event_id for e in events], [e.to_json() for e in events])
        object.__setattr__(batch, "_events", events)
        return batch

    @property
    def events(self) -> list[Event]:
        if self._events is None:
            object.__setattr__(self, "_events", Event.many_from_json(self.bodies))
        assert self._events is not None
        return self._events


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


DEFAULT_SCHEMES = ("http", "https")


class DeliveryReceiver:
    """Base class for receivers. Subclasses set `type_name` and implement `deliver`.

    Gates (credentials, opt-ins, server refusals) belong in `preflight()`, which raises
    `ReceiverNotReady` with a one-line reason; the dispatcher then leaves every event due.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # URL schemes `sync targets add` accepts for this type; declaring "file" allows file:///PATH
    schemes: ClassVar[tuple[str, ...]] = DEFAULT_SCHEMES

    def __init__(self, target: Target) -> None:
        self.target = target

    def preflight(self) -> None:
        """Raise `ReceiverNotReady` when this target must not be posted to now."""

    def deliver(self, events: list[Event]) -> list[DeliveryResult]:
        """Post `events` and return one result per event."""
        raise NotImplementedError

    def deliver_stored(self, batch: StoredBatch) -> list[DeliveryResult]:
        """What a drain calls: by default `deliver(batch.events)`. A receiver that sends the
        stored JSON as it is overrides this to skip decoding every event (see `StoredBatch`)."""
        return self.deliver(batch.events)

    def describe(self) -> dict[str, Any]:
        """Deployment facts the target reports (e.g. its health endpoint); empty when unknown."""
        return {}

    def close(self) -> None:
        """Release connections; called once the drain is over."""


OptionsT = TypeVar("OptionsT")


class ConfiguredReceiver(DeliveryReceiver, Generic[OptionsT]):
    """A receiver whose target options are parsed once, by its `options_parser`.

    A bad option makes `sync targets add` refuse the target (`check_target`); a target that got
    into the database some other way (an older version, another tool) parses when the receiver
    is made, and every drain is then not ready with the same one-line message, instead of each
    batch failing. Subclasses set `options_parser` (a function of the target that raises
    `TargetError`) and read `checked_options()`.
    """

    options_parser: ClassVar[Callable[[Target], Any]]

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._options_problem: str | None = None
        try:
            self.options: OptionsT | None = type(self).options_parser(target)
        except TargetError as exc:
            self.options, self._options_problem = None, str(exc)

    @classmethod
    def check_target(cls, target: Target) -> None:
        """Refuse a bad URL or option when the target is added, not at its first drain."""
        cls.options_parser(target)

    def checked_options(self) -> OptionsT:
        """The parsed options, or `ReceiverNotReady` saying which option to fix."""
        if self.options is None:
            raise ReceiverNotReady(self._options_problem
                                   or f"target {self.target.name} is misconfigured")
        return self.options


def check_receiver_class(cls: Any) -> None:
    """Validate what a plugin registers, so a mistake fails at load naming the class."""
    if not (isinstance(cls, type) and issubclass(cls, DeliveryReceiver)):
        raise TypeError(f"{cls!r} is not a DeliveryReceiver subclass")
    name = getattr(cls, "type_name", "")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise TypeError(f"{cls.__name__}.type_name must be a non-empty identifier, got {name!r}")
