"""The `stub` receiver type: posts batches to a stub server (`eventsync stub serve`).

It carries no credentials. Against a server that demands them (`--auth-token-env`) a refused batch
raises `ReceiverNotReady` out of `deliver()`, as does a 412: nothing of it is recorded and the
drain stops with the server's reason instead of retrying blindly. The target's `timeout` bounds
each whole request (connect + send + read).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import eventsync

HEALTH_KEYS = ("server_instance_id", "deployment_id", "environment_name", "git_sha")


class StubReceiver(eventsync.DeliveryReceiver):
    """Delivers to an eventsync stub server over HTTP; option `timeout`: seconds per request."""

    type_name = "stub"
    description = "a local eventsync stub server (eventsync stub serve); no credentials"

    def __init__(self, target: eventsync.Target) -> None:
        super().__init__(target)
        parts = urlsplit(target.url)
        # the API paths go after the target's path, and any query string after them
        self.base_url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        query = f"?{parts.query}" if parts.query else ""
        self.client = eventsync.BatchClient(
            self.base_url + eventsync.BatchClient.BATCH_PATH + query,
            timeout=eventsync.option_timeout(target))

    def preflight(self) -> None:
        self.client.check_ready()

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        self.client.check_ready()
        results = self.client.post_batch(events)
        self.client.check_ready()
        return results

    def deliver_stored(self, batch: eventsync.StoredBatch) -> list[eventsync.DeliveryResult]:
        """The drain's call: the stored JSON is posted as it is, never decoded."""
        self.client.check_ready()
        results = self.client.post_stored(batch)
        self.client.check_ready()
        return results

    def describe(self) -> dict[str, Any]:
        facts = self.client.get_json(self.base_url + eventsync.BatchClient.HEALTH_PATH) or {}
        return {key: facts[key] for key in HEALTH_KEYS
                if isinstance(facts.get(key), str | None) and key in facts}

    def close(self) -> None:
        self.client.close()
