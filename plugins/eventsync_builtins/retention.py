"""Built-in retention plugins."""

from __future__ import annotations

from collections.abc import Callable

import eventsync


@eventsync.hookimpl(trylast=True)
def register_retention_policies(register: Callable[[type], None]) -> None:
    """Built-in policies; trylast so a third party's hook runs first."""
