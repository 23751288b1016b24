"""One drain of one target, assembled: receiver from its plugin, source from the retention
setting, deployment facts recorded before posting, and the outcome summarised.

The CLI and the daemon both come through here, so a drain behaves the same however it starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsync.delivery.dispatcher import DEFAULT_BATCH_SIZE, DrainReport, drain
from eventsync.delivery.drain_facts import WatchedSource
from eventsync.delivery.ledger import Ledger, RetryPolicy
from eventsync.delivery.sources import DeliverySource, JournalSource
from eventsync.delivery.targets import TargetRegistry
from eventsync.plugins import Plugins
from eventsync.receivers import DeliveryReceiver, Target
from eventsync.store import Store

RESET_KEY = "reset_suspected"


class Drains:
    """Builds receivers and sources for targets and runs drains."""

    def __init__(self, store: Store, plugins: Plugins, *, home: Path,
                 retry: RetryPolicy | None = None,
                 queue_source: Callable[[Target], DeliverySource] | None = None) -> None:
        self.store = store
        self.plugins = plugins
        self.home = home
        self.targets = TargetRegistry(store)
        self.ledger = Ledger(store, retry)
        self._queue_source = queue_source

    def open_receiver(self, target: Target) -> DeliveryReceiver:
        """Instantiate the target's receiver; a missing plugin is a one-line PluginError."""
        cls = self.plugins.receiver_class(target.type)
        bound = Target(target.name, target.type, target.url, dict(target.options),
                       target.identity, dict(target.metadata), target.id, str(self.home))
        return cls(bound)

    def source_for(self, target: Target) -> DeliverySource:
        if self._queue_source is not None:
            return self._queue_source(target)
        assert target.id is not None
        return JournalSource(self.ledger, target.id)

    def drain_target(self, target: Target, *, batch_size: int = DEFAULT_BATCH_SIZE,
                     progress: Callable[[int], None] | None = None,
                     on_start: Callable[[int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> DrainReport:
        """Preflight, record deployment facts, then drain until nothing is due."""
        receiver = self.open_receiver(target)
        try:
            receiver.preflight()
            self.record_deployment(target, receiver)
            source = WatchedSource(self.source_for(target), self.targets, target)
            if on_start is not None:
                on_start(source.estimate())
            return drain(receiver, source, batch_size=batch_size, progress=progress,
                         preflight=False, should_stop=should_stop)
        finally:
            receiver.close()

    def record_deployment(self, target: Target, receiver: DeliveryReceiver) -> None:
        """Keep the server's deployment facts; flag (never act on) a changed instance id."""
        try:
            facts = receiver.describe() or {}
        except Exception:  # deployment facts are optional; a failing probe must not stop a drain
            return
        if not isinstance(facts, dict):
            return
        facts = {k: v for k, v in facts.items() if isinstance(v, str | int | float | None)}
        if not facts:
            return
        facts["checked_at"] = int(time.time() * 1000)
        previous = self.targets.record_metadata(target.name, facts)
        before, now = previous.get("server_instance_id"), facts.get("server_instance_id")
        if before and now and before != now:
            self.targets.record_metadata(target.name, {RESET_KEY: _reset_note(before, now)})

    def clear_reset(self, target: Target) -> None:
        self.targets.record_metadata(target.name, {RESET_KEY: None})


def _reset_note(before: Any, now: Any) -> str:
    return f"server_instance_id changed from {before} to {now}"
