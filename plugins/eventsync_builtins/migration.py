"""Built-in migration plugins."""

from __future__ import annotations

from collections.abc import Callable

import eventsync


@eventsync.hookimpl(trylast=True)
def register_migration_sources(register: Callable[[type], None]) -> None:
    """Built-in migration sources; trylast so a third party's hook runs first."""
