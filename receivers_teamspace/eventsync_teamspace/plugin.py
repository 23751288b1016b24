"""Hook implementations registered under the `eventsync` entry-point group."""

from __future__ import annotations

from collections.abc import Callable

import eventsync
from eventsync_teamspace.receiver import TeamspaceReceiver


@eventsync.hookimpl
def register_receivers(register: Callable[[type], None]) -> None:
    register(TeamspaceReceiver)
