"""One nats-py connection and its JetStream context, used only on the receiver's loop thread.

A batch is published with bounded concurrency (at most `MAX_IN_FLIGHT` acks outstanding) and
every ack is awaited until the batch's deadline. Acks come to this session's own reply inbox:
nats-py's `publish_async` never completes the future of a publish that JetStream refuses (its
reply handler raises instead), which would turn every refusal into a timeout. When the
connection comes back after a server restart, every message of the batch still without an ack
is published again: its `Nats-Msg-Id` makes a second copy impossible inside the duplicate
window, so an unlucky restart costs a retry, never a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.api
import nats.js.errors

import eventsync
from eventsync_nats.options import NatsOptions
from eventsync_nats.outcomes import (
    NO_RESPONDERS,
    NoStream,
    Unreachable,
    describe_error,
    parse_reply,
    result_for,
    too_large,
)
from eventsync_nats.subjects import subject_matches

MAX_IN_FLIGHT = 512
CONNECT_BUDGET = 5.0
RECONNECT_WAIT = 0.25
NO_RESPONDERS_WAIT = 0.25
HEADER_LINE = len(b"NATS/1.0\r\n") + len(b"\r\n")


@dataclass
class _Pending:
    """One message of a batch and the future of its ack, republished after a reconnect."""

    event_id: str
    subject: str
    body: bytes
    future: Any = None
    outcome: Any = None


@dataclass
class Session:
    """One connection's life: opened once, used for every batch, closed by the receiver."""

    options: NatsOptions
    client_name: str
    nc: Any = None
    js: Any = None
    acks: Any = None
    _auth_error: str | None = None
    _connecting: Any = None
    _refused: bool = False
    _reconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def usable(self) -> bool:
        return self.nc is not None and not self.nc.is_closed

    async def open(self, token: str | None) -> None:
        """Connect within `CONNECT_BUDGET`; reconnects later are nats-py's, for ~timeout."""
        self.nc = nats.NATS()
        attempts = max(2, int(self.options.timeout / RECONNECT_WAIT))
        kwargs: dict[str, Any] = dict(
            servers=[self.options.server], name=self.client_name, connect_timeout=2,
            reconnect_time_wait=RECONNECT_WAIT, max_reconnect_attempts=attempts,
            error_cb=self._on_error, reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed, disconnected_cb=_ignore)
        if token is not None:
            kwargs["token"] = token
        if self.options.creds is not None:
            kwargs["user_credentials"] = self.options.creds
        self._connecting = asyncio.ensure_future(self.nc.connect(**kwargs))
        try:
            await asyncio.wait_for(self._connecting, min(CONNECT_BUDGET, self.options.timeout))
        except (TimeoutError, nats.errors.Error, OSError, asyncio.CancelledError) as exc:
            await self.close()
            if self._auth_error is not None:
                raise Unreachable(self._auth_error, auth=True) from None
            if self._refused:
                raise Unreachable(f"cannot connect to {self.options.server}: connection "
                                  "refused") from None
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise Unreachable(f"cannot connect to {self.options.server}: "
                              f"{describe_error(exc)}") from None
        finally:
            self._connecting = None
        self.js = self.nc.jetstream(timeout=self.options.timeout)
        self.acks = AckInbox(self.nc)
        await self.acks.start()

    async def stream_info(self) -> Any:
        return await self.js.stream_info(self.options.stream)

    async def create_stream(self, window: float) -> Any:
        config = nats.js.api.StreamConfig(
            name=self.options.stream, subjects=[self.options.subject.filter],
            duplicate_window=window, storage=nats.js.api.StorageType.FILE)
        return await self.js.add_stream(config)

    async def publish(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        """Publish `events`, await their acks until the deadline, one result each."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        limit = self.nc.max_payload
        results: dict[str, eventsync.DeliveryResult] = {}
        pending: list[_Pending] = []
        for event in events:
            item = _Pending(event.event_id, self.options.subject.render(event),
                            event.to_json().encode())
            size = len(item.body) + self._header_bytes(item.event_id)
            if size > limit:
                results[item.event_id] = too_large(item.event_id, size, limit)
            else:
                pending.append(item)
        await self._send(pending, deadline)
        await self._settle(pending, deadline)
        for item in pending:
            if item.outcome == NO_RESPONDERS:
                raise NoStream(item.subject)
            results[item.event_id] = result_for(item.event_id, item.outcome,
                                                self.options.stream)
        return [results[event.event_id] for event in events]

    async def close(self) -> None:
        nc, self.nc, self.js, self.acks = self.nc, None, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _send(self, items: list[_Pending], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        self._reconnected.clear()
        for item in items:
            if item.future is not None:
                item.future.cancel()  # frees its slot; the new publish replaces it
            item.outcome = item.future = None
            headers = {"Nats-Msg-Id": item.event_id, "Nats-Expected-Stream": self.options.stream}
            try:
                item.future = await self.acks.publish(item.subject, item.body, headers,
                                                      deadline - loop.time())
            except Exception as exc:  # no connection, buffer full, stalled: that message only
                item.outcome = exc

    async def _settle(self, items: list[_Pending], deadline: float) -> None:
        """Acks for all; "no responders" is retried while the stream does take the subject,
        since a restarted server accepts connections before JetStream has loaded its streams."""
        loop = asyncio.get_running_loop()
        while True:
            await self._await_acks(items, deadline)
            unanswered = [i for i in items if i.outcome == NO_RESPONDERS]
            if not unanswered or loop.time() + NO_RESPONDERS_WAIT >= deadline:
                return
            await self._check_stream_takes(unanswered[0].subject)
            await asyncio.sleep(NO_RESPONDERS_WAIT)
            await self._send(unanswered, deadline)

    async def _check_stream_takes(self, subject: str) -> None:
        """Raise `NoStream` when the stream is missing or does not take `subject`."""
        try:
            info = await self.js.stream_info(self.options.stream)
        except nats.js.errors.NotFoundError:
            raise NoStream(subject) from None
        except Exception:  # JetStream not answering yet: keep trying until the deadline
            return
        if not any(subject_matches(p, subject) for p in info.config.subjects or []):
            raise NoStream(subject)

    async def _await_acks(self, items: list[_Pending], deadline: float) -> None:
        """Wait for every ack; after a reconnect, publish the unanswered ones again."""
        loop = asyncio.get_running_loop()
        while True:
            waiting = [i.future for i in items if i.outcome is None and not i.future.done()]
            if waiting and not self._closed.is_set():
                await _wait_any(waiting, self._reconnected, self._closed,
                                deadline - loop.time())
            self._collect(items)
            lost = [i for i in items if i.outcome is None]
            if not lost or loop.time() >= deadline or self._closed.is_set():
                break
            if self._reconnected.is_set():
                await self._send(lost, deadline)
        for item in items:
            if item.outcome is None:
                item.future.cancel()
                item.outcome = (nats.errors.ConnectionClosedError() if self._closed.is_set()
                                else TimeoutError(f"no ack from JetStream within "
                                                  f"{self.options.timeout:g}s"))

    def _collect(self, items: list[_Pending]) -> None:
        for item in items:
            if item.outcome is not None or not item.future.done():
                continue
            if item.future.cancelled():
                item.outcome = TimeoutError()
            else:
                item.outcome = item.future.exception() or item.future.result()

    def _header_bytes(self, event_id: str) -> int:
        return (HEADER_LINE + len("Nats-Msg-Id: \r\n") + len(event_id)
                + len("Nats-Expected-Stream: \r\n") + len(self.options.stream))

    async def _on_error(self, error: Exception) -> None:
        """While connecting, a refused connection or refused credentials end the attempt at
        once: retrying for the whole budget would only make an offline drain slow."""
        if isinstance(error, nats.errors.AuthorizationError) or (
                "authorization violation" in str(error).lower()):
            self._auth_error = (f"{self.options.server} refused the credentials "
                                "(authorization violation)")
        elif isinstance(error, ConnectionRefusedError) and self._connecting is not None:
            self._refused = True
        else:
            return
        if self._connecting is not None:
            self._connecting.cancel()

    async def _on_reconnected(self) -> None:
        self._reconnected.set()

    async def _on_closed(self) -> None:
        self._closed.set()


class AckInbox:
    """Publishes with a reply subject under one inbox subscription and matches each reply to
    its future; at most `MAX_IN_FLIGHT` are outstanding."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self.futures: dict[str, asyncio.Future[Any]] = {}
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.sent = 0

    async def start(self) -> None:
        await self.nc.subscribe(f"{self.prefix}.*", cb=self._on_reply)

    async def publish(self, subject: str, body: bytes, headers: dict[str, str],
                      wait: float) -> asyncio.Future[Any]:
        """Send one message; the future resolves to `parse_reply`'s answer."""
        if self.slots.locked():  # wait_for costs a task: only when a slot must be waited for
            await asyncio.wait_for(self.slots.acquire(), max(0.0, wait))
        else:
            await self.slots.acquire()  # free slot: returns without yielding to the loop
        self.sent += 1
        token = str(self.sent)
        future = asyncio.get_running_loop().create_future()
        self.futures[token] = future
        future.add_done_callback(lambda _done: self._release(token))
        try:
            await self.nc.publish(subject, body, reply=f"{self.prefix}.{token}", headers=headers)
        except BaseException:
            future.cancel()
            raise
        return future

    def _release(self, token: str) -> None:
        self.futures.pop(token, None)
        self.slots.release()

    async def _on_reply(self, msg: Any) -> None:
        future = self.futures.get(msg.subject.rpartition(".")[2])
        if future is not None and not future.done():
            future.set_result(parse_reply(msg.data, msg.headers))


async def _wait_any(waiting: list[Any], reconnected: asyncio.Event, closed: asyncio.Event,
                    timeout: float) -> None:
    """Until every ack is in, the connection is back or closed, or `timeout` passes."""
    watchers = [asyncio.ensure_future(asyncio.wait(waiting)),
                asyncio.ensure_future(reconnected.wait()), asyncio.ensure_future(closed.wait())]
    try:
        await asyncio.wait(watchers, timeout=max(0.0, timeout),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for watcher in watchers:
            watcher.cancel()


async def _ignore() -> None:
    """nats-py wants a coroutine for every callback; a disconnect alone needs no action."""
