"""Hook implementations registered under the `eventsync` entry-point group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eventsync
from eventsync_stub.receiver import StubReceiver


@eventsync.hookimpl
def register_receivers(register: Callable[[type], None]) -> None:
    register(StubReceiver)


@eventsync.hookimpl
def register_commands(cli: Any) -> None:
    from eventsync_stub.commands import stub

    cli.add_command(stub)
