"""The `external` receiver: any HTTP endpoint an operator runs, posted to exactly as configured.

No path is appended and no Teamspace gating applies. Headers come from `header.NAME=VALUE` and
`header_env.NAME=ENVVAR` options; their values are secrets, so they reach the wire and nothing
else (`BatchClient` masks them in whatever a server echoes back). `format=batch` speaks the batch
contract with per-event results; `format=ndjson` posts one event per line, where any 2xx means
the whole request was accepted.
"""

from __future__ import annotations

from typing import Any

import eventsync
from eventsync_external.options import ExternalOptions, parse_options, resolve_headers

GZIP_MIN_BYTES = 4096


class ExternalReceiver(eventsync.ConfiguredReceiver[ExternalOptions]):
    """Posts batches (or NDJSON) to the target URL as given, with operator-supplied headers."""

    type_name = "external"
    description = "any HTTP receiver you run: URL as given, headers from options, batch or NDJSON"
    options_parser = staticmethod(parse_options)

    def __init__(self, target: eventsync.Target) -> None:
        super().__init__(target)
        self._client: Any = None

    def preflight(self) -> None:
        """A bad option or an unset `header_env` variable closes the gate, before any request."""
        resolve_headers(self.target, self.checked_options())
        self._check_server()

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        client = self._open()
        self._check_server()
        if self.checked_options().format == "ndjson":
            results = client.post_ndjson(events)
        else:
            results = client.post_batch(events)
        self._check_server()
        return results

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _open(self) -> Any:
        """The one HTTP client of this receiver, made on first use."""
        options = self.checked_options()
        if self._client is None:
            self._client = eventsync.BatchClient(
                options.url, headers=resolve_headers(self.target, options),
                timeout=options.read_timeout,
                gzip_min_bytes=GZIP_MIN_BYTES if options.gzip else None,
            )
        return self._client

    def _check_server(self) -> None:
        """After a refusal (401/403, or 412) nothing more is posted; the drain stops."""
        if self._client is None or self._client.refused is None:
            return
        failure = self._client.auth_failure
        if failure is None:
            raise self._client.refused
        raise eventsync.ReceiverNotReady(
            f"{failure.reason}: check the header.* and header_env.* options of target "
            f"{self.target.name}")
