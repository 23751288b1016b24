"""The `nats` receiver: every event becomes one JetStream message, deduplicated by its id.

Each message carries `Nats-Msg-Id: <event_id>` and the event's canonical JSON as its body, so
the stream stores an event once however often a crash makes eventsync re-post it, provided the
re-post falls inside the stream's duplicate window. Preflight therefore refuses a window shorter
than eventsync's redelivery horizon (lease TTL + retry backoff cap).

The nats-py client runs on one event-loop thread owned by this receiver; `close()` closes the
connection and joins that thread, so nothing of it outlives the drain. One receiver holds one
connection, reused for every batch of the drain.

nats-py (and the session built on it) is imported only when a receiver connects, asyncio (the
loop thread) only when a receiver is made: every eventsync command loads this plugin, and those
imports cost about 0.1-0.3 s that only a NATS drain should pay.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
from typing import TYPE_CHECKING, Any

import eventsync
from eventsync_nats.options import SCHEMES, NatsOptions, parse_options
from eventsync_nats.outcomes import (
    NoStream,
    Unreachable,
    check_stream,
    describe_error,
    missing_stream,
)
from eventsync_nats.subjects import subject_matches

if TYPE_CHECKING:
    from eventsync_nats.loop import LoopThread
    from eventsync_nats.session import Session

GRACE = 5.0
MIN_CREATED_WINDOW = 120.0


class NatsReceiver(eventsync.ConfiguredReceiver[NatsOptions]):
    """Publishes each event to a JetStream stream and maps each ack to a ledger outcome."""

    type_name = "nats"
    schemes = SCHEMES
    description = "NATS JetStream, one message per event, deduplicated by event id " \
                  "(url: nats://HOST:PORT or tls://HOST:PORT)"
    options_parser = staticmethod(parse_options)

    def __init__(self, target: eventsync.Target) -> None:
        super().__init__(target)
        from eventsync_nats.loop import LoopThread  # asyncio: see the module docstring

        self._loop: LoopThread = LoopThread(f"eventsync-nats:{target.name}")
        self._session: Session | None = None
        self._stream_checked = False
        self._facts: dict[str, Any] = {}

    def preflight(self) -> None:
        """Options, credentials, stream and duplicate window; an unreachable server is left
        to `deliver()`, which reports it per event so the drain stops as unreachable."""
        self._check_credentials(self.checked_options())
        with contextlib.suppress(Unreachable):
            self._ready()

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        try:
            session = self._ready()
            return self._run(lambda: session.publish(events))
        except Unreachable as exc:
            return _all(events, str(exc))
        except NoStream as exc:
            problem = self._explain_no_stream(exc.subject)
            if problem is not None:
                raise eventsync.ReceiverNotReady(problem) from None
            return _all(events, f"JetStream did not answer for subject {exc.subject} (is the "
                                "server starting?)")

    def describe(self) -> dict[str, Any]:
        return dict(self._facts)

    def close(self) -> None:
        session, self._session = self._session, None
        self._loop.close(session.close if session is not None else None)

    def _run(self, make: Any, budget: float | None = None) -> Any:
        timeout = (budget or self.checked_options().timeout) + GRACE
        try:
            return self._loop.run(make, timeout)
        except TimeoutError as exc:
            raise Unreachable(f"{self.checked_options().server}: {exc}") from None

    def _ready(self) -> Session:
        """The connected session, its stream checked once per receiver."""
        options = self.checked_options()
        if self._session is None or not self._session.usable:
            self._connect(options)
        assert self._session is not None
        if not self._stream_checked:
            info = self._stream_info(options)
            check_stream(info, stream=options.stream, server=options.server,
                         subject_filter=options.subject.filter, horizon=self._horizon())
            self._stream_checked = True
            self._facts = {"server_instance_id": f"{options.stream}@{info.created}"}
        return self._session

    def _connect(self, options: NatsOptions) -> None:
        if self._session is not None:
            old, self._session = self._session, None
            self._run(old.close)
        from eventsync_nats.session import CONNECT_BUDGET, Session

        session = Session(options, f"eventsync:{self.target.name}")
        token = self._token(options)
        try:
            self._run(lambda: session.open(token), CONNECT_BUDGET)
        except Unreachable as exc:
            if exc.auth:
                raise eventsync.ReceiverNotReady(
                    f"{exc}: check option token_env, `eventsync auth set-token "
                    f"{self.target.name}` or option creds") from None
            raise
        self._session = session

    def _stream_info(self, options: NatsOptions) -> Any:
        import nats.errors
        import nats.js.errors

        session = self._session
        assert session is not None
        try:
            return self._run(session.stream_info)
        except nats.js.errors.NotFoundError:
            window = max(MIN_CREATED_WINDOW, float(math.ceil(self._horizon().seconds)))
            if not options.create_stream:
                raise eventsync.ReceiverNotReady(missing_stream(
                    options.stream, options.server, options.subject.filter, window)) from None
            return self._run(lambda: session.create_stream(window))
        except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError):
            raise eventsync.ReceiverNotReady(
                f"JetStream is not enabled on {options.server}: start nats-server with -js "
                "(or a jetstream block in its config)") from None
        except (nats.errors.Error, OSError) as exc:
            raise Unreachable(f"{options.server}: {describe_error(exc)}") from None

    def _explain_no_stream(self, subject: str) -> str | None:
        """Why JetStream had no stream for `subject`, or None when the stream does take it."""
        options = self.checked_options()
        self._stream_checked = False
        try:
            info = self._stream_info(options)
        except Unreachable:
            return None
        if any(subject_matches(pattern, subject) for pattern in info.config.subjects or []):
            return None
        return (f"no stream takes subject {subject} on {options.server}: add it to stream "
                f"{options.stream} (`nats stream edit {options.stream} --subjects ...`) or "
                "change option subject")

    def _horizon(self) -> Any:
        return eventsync.redelivery_horizon(self.target.home)

    def _token(self, options: NatsOptions) -> str | None:
        try:
            token = eventsync.target_token(self.target)
        except eventsync.EventSyncError as exc:
            raise eventsync.ReceiverNotReady(str(exc)) from None
        variable = (self.target.options or {}).get("token_env", "").strip()
        if token is None and variable:
            raise eventsync.ReceiverNotReady(
                f"${variable} (option token_env) is not set: export it, then run "
                f"`eventsync sync now --target {self.target.name}`")
        return token

    def _check_credentials(self, options: NatsOptions) -> None:
        if options.creds is None:
            return
        path = os.path.expanduser(options.creds)
        if not os.access(path, os.R_OK):
            raise eventsync.ReceiverNotReady(f"creds file {path} (option creds) cannot be read")
        if importlib.util.find_spec("nkeys") is None:
            raise eventsync.ReceiverNotReady(
                "a creds file needs the nkeys package: run `eventsync plugins install nkeys`")


def _all(events: list[eventsync.Event], detail: str) -> list[eventsync.DeliveryResult]:
    status = eventsync.DeliveryStatus.FAILED_TRANSIENT
    return [eventsync.DeliveryResult(event.event_id, status, detail) for event in events]
