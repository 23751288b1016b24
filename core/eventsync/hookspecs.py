"""The hooks a plugin can implement. Each `register_*` hook receives a `register` callable.

The core owns the registries: `register` validates the item on the spot and records which plugin
contributed it, so a collision is an error naming both plugins instead of a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("eventsync")
hookimpl = pluggy.HookimplMarker("eventsync")


@hookspec
def register_receivers(register: Callable[[type], None]) -> None:
    """Register `DeliveryReceiver` subclasses; each `type_name` is a `sync targets add --type`."""


@hookspec
def register_retention_policies(register: Callable[[type], None]) -> None:
    """Register retention policy classes (attribute `name`) that `sync gc --policy` can apply."""


@hookspec
def register_migration_sources(register: Callable[[type], None]) -> None:
    """Register migration source classes (attribute `name`) that `sync migrate` can read."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands or groups to the `eventsync` command group `cli`."""
