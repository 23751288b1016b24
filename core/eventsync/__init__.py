"""eventsync: local-first event delivery.

Producers append to a durable journal; a dispatcher drains it to delivery targets through receiver
plugins and records every outcome in a ledger. Syncing never destroys an event.
"""

from __future__ import annotations

from eventsync.errors import (
    AuthorityError,
    ConfigError,
    DuplicateEventId,
    EventSyncError,
    InvalidEvent,
    MigrationError,
    OfflineQueueFull,
    PluginError,
    ReceiverNotReady,
    StorageError,
    TargetError,
)
from eventsync.events import Event, new_ulid
from eventsync.hookspecs import hookimpl
from eventsync.journal import Journal
from eventsync.receivers import DeliveryReceiver, DeliveryResult, DeliveryStatus, Target

__version__ = "0.1.0"

__all__ = [
    "AuthorityError",
    "ConfigError",
    "DeliveryReceiver",
    "DeliveryResult",
    "DeliveryStatus",
    "DuplicateEventId",
    "Event",
    "EventSyncError",
    "InvalidEvent",
    "Journal",
    "MigrationError",
    "OfflineQueueFull",
    "PluginError",
    "ReceiverNotReady",
    "StorageError",
    "Target",
    "TargetError",
    "hookimpl",
    "new_ulid",
]
