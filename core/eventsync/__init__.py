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
from eventsync.journal.journal import Journal
from eventsync.receivers import (
    ConfiguredReceiver,
    DeliveryReceiver,
    DeliveryResult,
    DeliveryStatus,
    StoredBatch,
    Target,
)
from eventsync.version import __version__ as __version__

_LAZY = {
    "OfflineQueue": "eventsync.queue.offline_queue",
    "MAX_QUEUE_SIZE": "eventsync.queue.offline_queue",
    "QueueStats": "eventsync.queue.offline_queue",
    "build_queue_scope": "eventsync.queue.scope",
    "default_queue_db_path": "eventsync.queue.scope",
    "WorkQueue": "eventsync.work.queue",
    "Job": "eventsync.work.queue",
    "KeyedLimiter": "eventsync.work.limits",
    "host_key": "eventsync.work.limits",
    "BatchClient": "eventsync.delivery.batch_http",
    "check_receiver": "eventsync.testing",
    "target_token": "eventsync.delivery.credentials",
    "target_credentials": "eventsync.delivery.credentials",
    "update_target_credentials": "eventsync.delivery.credentials",
    "StoredToken": "eventsync.delivery.credentials",
    "check_transport": "eventsync.delivery.transport",
    "is_loopback": "eventsync.delivery.transport",
    "option_flag": "eventsync.delivery.transport",
    "is_true": "eventsync.delivery.transport",
    "option_timeout": "eventsync.delivery.transport",
    "RedeliveryHorizon": "eventsync.config",
    "redelivery_horizon": "eventsync.config",
}


def __getattr__(name: str) -> object:
    """Heavier parts of the public face load on first use, keeping `import eventsync` cheap."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'eventsync' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "AuthorityError",
    "ConfigError",
    "ConfiguredReceiver",
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
    "StoredBatch",
    "Target",
    "TargetError",
    "hookimpl",
    "new_ulid",
    *_LAZY,
]
