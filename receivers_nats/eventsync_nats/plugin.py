"""Hook implementations registered under the `eventsync` entry-point group."""

from __future__ import annotations

from collections.abc import Callable

import eventsync
from eventsync_nats.receiver import NatsReceiver


@eventsync.hookimpl
def register_receivers(register: Callable[[type], None]) -> None:
    register(NatsReceiver)
