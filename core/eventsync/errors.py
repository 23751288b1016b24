"""One exception hierarchy, so the CLI can turn any expected failure into one line.

Every error a user can cause or an operator can meet derives from `EventSyncError`; anything else
reaching the CLI is a bug and is reported as such.
"""

from __future__ import annotations


class EventSyncError(Exception):
    """Root of every error eventsync raises on purpose."""

    exit_code: int = 1


class InvalidEvent(EventSyncError, ValueError):
    """An event failed validation; nothing was written."""


class DuplicateEventId(EventSyncError):
    """An event id already exists in the journal with a different body; nothing was written."""


class StorageError(EventSyncError):
    """SQLite failed in a way the caller can act on (locked, read-only, disk full)."""


class ConfigError(EventSyncError):
    """config.toml or a setting is malformed or unknown."""


class TargetError(EventSyncError):
    """A target is unknown, duplicated, or cannot be used as asked."""


class PluginError(EventSyncError):
    """A plugin registered something invalid or colliding."""


class ReceiverNotReady(EventSyncError):
    """A receiver's gate is closed; events stay due and nothing is marked delivered."""


class AuthorityError(EventSyncError):
    """No single active target can be resolved from flags, environment and config."""


class OfflineQueueFull(EventSyncError):
    """A strict append hit the bounded offline queue's cap; nothing was written.

    `cap` and `current` are spec-kitty's attributes, so a caller written for spec-kitty's
    OfflineQueue can tell the operator how full the queue is.
    """

    def __init__(self, message: str | None = None, *, cap: int = 0, current: int = 0) -> None:
        super().__init__(message or f"offline queue at capacity ({current}/{cap})")
        self.cap = cap
        self.current = current


class MigrationError(EventSyncError):
    """A migration could not proceed (conflict, unreadable source)."""


class UnknownEvent(EventSyncError):
    """No event with that id is in the journal."""
