"""A client for the batch HTTP contract (docs/batch-api.md), shared by the receivers that speak it.

One `requests.Session` per client keeps connections alive between batches. The request body is
spliced from each event's stored canonical JSON, never decoded and re-encoded: at drain rates that
re-encoding would cost as much as the HTTP round trip itself.

The mapping from HTTP outcomes to per-event results lives here once (the words themselves in
`batch_answers.py`), so the stub, Teamspace and external receivers cannot drift apart:
- 200 + `{"results": [...]}` -> one result per event;
- 400 with `details` -> those events rejected, the rest retried; 400 without -> bisect (events
  sharing a `payload.wp_id` stay together) until the poison event stands alone, rejected;
- 413 or a "too large" error -> halve down to single events, a lone one `failed_permanent`;
- 401/403 -> `refused` = `AuthRefused`, 412 -> `refused` = `ProtocolRefused` (with the server's
  upgrade guidance), both `ReceiverNotReady`s that `check_ready()` raises: a receiver calls it
  after posting, so nothing of a refused batch is recorded and the drain stops;
- 429/5xx/timeouts/connection errors -> `failed_transient`, `Retry-After` honoured.
Limits (`max_events`, `max_bytes` of uncompressed body) split a batch before it is sent. A
request never runs past its total `timeout`, connect + send + read (`http_deadline.py`). Header
values are secrets: they never reach a result's detail, an exception or a log line.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import math
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from eventsync.delivery.batch_answers import (
    Refusal,
    bad_request,
    is_oversize,
    protocol_guidance,
    read_results,
)
from eventsync.delivery.http_deadline import DeadlineAdapter, deadline
from eventsync.delivery.targets import is_secret_option
from eventsync.errors import ReceiverNotReady
from eventsync.events import Event, utf8_size
from eventsync.receivers import DeliveryResult, DeliveryStatus, StoredBatch
from eventsync.version import __version__

__all__ = ["BATCH_PATH", "HEALTH_PATH", "AuthFailure", "AuthRefused", "BatchClient",
           "JsonReply", "ProtocolRefused", "parse_retry_after", "split_batch"]

BATCH_PATH = "/api/v1/events/batch/"
HEALTH_PATH = "/api/v1/sync/health/"
DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
# Level 1 compresses repetitive event JSON to roughly a fifth at a fraction of level 6's cost;
# on a drain the CPU is better spent elsewhere than on the last few percent of ratio.
GZIP_LEVEL = 1
MAX_DETAIL = 300
MAX_RETRY_AFTER = 3600.0  # the ledger caps again, at the operator's backoff maximum
_FRAME_BYTES = len(b'{"events":[]}')
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CODE_FIELDS = ("code", "error_code", "error_category", "category", "error")
_FAILED = DeliveryStatus.FAILED_TRANSIENT
Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class AuthFailure:
    """The server's last refusal of our credentials (HTTP 401 or 403), its code and message."""

    status: int
    code: str = ""
    message: str = field(default="", compare=False)

    @property
    def reason(self) -> str:
        """A one-line reason a receiver can raise as `ReceiverNotReady`; never holds a secret."""
        what = "refused the credentials" if self.status == 401 else "forbids this client"
        code = f", code {self.code}" if self.code else ""
        return f"the server {what} (HTTP {self.status}{code})"


class AuthRefused(ReceiverNotReady):
    """HTTP 401/403 to a batch: the gate is closed, nothing of the batch is recorded."""

    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class ProtocolRefused(ReceiverNotReady):
    """HTTP 412: the server will not take this client's sync protocol; the pass halts."""


@dataclass(frozen=True)
class JsonReply:
    """One plain request's answer; `status` 0 means none came (see `detail`)."""

    status: int
    body: Any
    detail: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


_Outcome = list[DeliveryResult] | Refusal
_Interpret = Callable[[requests.Response, list[Event]], _Outcome]
_Encode = Callable[[list[Event]], bytes]


class BatchClient:
    """Posts batches of events to one URL and maps every answer to per-event results.

    `url` is the endpoint posted to as-is (e.g. `https://host/api/v1/events/batch/`). `headers`
    are sent with every request and treated as secrets. `timeout` is the total seconds one
    request may take (connect at most 5 s of it), or `(connect, read)` whose sum is the total.
    Bodies of more than `gzip_min_bytes` bytes are gzipped (None: never; 0: always).
    `terminal_categories`: `rejected` with one of these categories is `failed_permanent`.
    `max_events` / `max_bytes` (uncompressed body) split batches before they are sent.
    A `session` passed in is used but not closed by `close()` (and gets no total deadline).

    A 401/403/412 answers the batch `failed_transient` and sets `refused` (and, for 401/403,
    `auth_failure`) until a later post succeeds; `check_ready()` raises it. A client is not
    thread-safe: use one per receiver.
    """

    BATCH_PATH = BATCH_PATH
    HEALTH_PATH = HEALTH_PATH

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        gzip_min_bytes: int | None = None,
        session: requests.Session | None = None,
        terminal_categories: Collection[str] = (),
        max_events: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._connect, self._read, self.total_timeout = _budget(timeout)
        self.gzip_min_bytes = gzip_min_bytes
        self.terminal_categories = frozenset(c.lower() for c in terminal_categories)
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.auth_failure: AuthFailure | None = None
        self.refused: ReceiverNotReady | None = None
        self._headers = {"User-Agent": f"eventsync/{__version__}", **dict(headers or {})}
        self._secrets = _secret_values(headers or {}, url)
        _LOG_MASK.watch(self._secrets)
        self._own_session = session is None
        self.session = session if session is not None else _new_session()

    def __repr__(self) -> str:
        return f"BatchClient({_safe_url(self.url)!r})"

    def __enter__(self) -> BatchClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's pooled connections, unless the caller owns the session."""
        if self._own_session:
            self.session.close()

    def set_header(self, name: str, value: str) -> None:
        """Send `value` as `name` from now on (e.g. a refreshed token); it is a secret too."""
        self._headers[name] = value
        self.add_secrets(_secret_values({name: value}))

    def add_secrets(self, values: Iterable[str]) -> None:
        """Mask these values too in anything the server echoes back (e.g. a refresh token)."""
        fresh = {v for v in values if isinstance(v, str) and len(v) >= 4}
        self._secrets = sorted(set(self._secrets) | fresh, key=len, reverse=True)
        _LOG_MASK.watch(self._secrets)

    def check_ready(self) -> None:
        """Raise the server's last refusal (`AuthRefused` or `ProtocolRefused`), if any.

        A receiver calls it right after posting, so a refused batch raises out of `deliver()`
        and nothing of it is recorded: the events stay due, untouched.
        """
        if self.refused is not None:
            raise self.refused

    def post_batch(self, events: list[Event]) -> list[DeliveryResult]:
        """POST `{"events": [...]}`; return one result per event, in the order given."""
        return self._post_all(events, _batch_body, self._read_results, "application/json")

    def post_stored(self, batch: StoredBatch) -> list[DeliveryResult]:
        """`post_batch` for a batch as the journal stores it, without decoding it: each body is
        spliced from `batch.bodies` (split to the limits by their sizes), and the usual answer
        (`success` or `duplicate` per event, nothing else said) is read by `batch.event_ids`.
        Any other answer decodes that part and is handled exactly as `post_batch` would;
        nothing is posted twice."""
        ids = batch.event_ids
        if not ids:
            return []
        body = _stored_body(batch.bodies)
        if len(ids) <= (self.max_events or len(ids)) and len(body) <= (self.max_bytes
                                                                        or len(body)):
            return self._post_stored_part(batch, body, None)[0]
        groups, oversize = self._plan([utf8_size(text) for text in batch.bodies])
        found = {ids[i]: self._too_large(ids[i], size) for i, size in oversize.items()}
        stopped: Refusal | None = None
        for group in groups:
            part = StoredBatch([ids[i] for i in group], [batch.bodies[i] for i in group])
            results, stopped = self._post_stored_part(part, _stored_body(part.bodies), stopped)
            found.update(zip(part.event_ids, results, strict=True))
        return [found[event_id] for event_id in ids]

    def _post_stored_part(self, batch: StoredBatch, body: bytes, stopped: Refusal | None
                          ) -> tuple[list[DeliveryResult], Refusal | None]:
        """One stored part within the limits: posted as it is, split (decoded) while the
        server says "too large" or "poison"; after a whole-batch failure, that failure."""
        ids = batch.event_ids
        outcome = stopped or self._post_once(body, _Decoded(batch), self._read_stored,
                                             "application/json")
        if not isinstance(outcome, Refusal):
            return outcome, None
        if (outcome.too_large or outcome.poison) and len(ids) > 1:
            found: dict[str, DeliveryResult] = {}
            for part in split_batch(batch.events):
                results, stopped = self._deliver(part, _batch_body, self._read_results,
                                                 "application/json", stopped)
                found.update((r.event_id, r) for r in results)
            return [found[event_id] for event_id in ids], stopped
        if not (outcome.too_large or outcome.poison):
            stopped = outcome
        return [DeliveryResult(event_id, outcome.status, outcome.detail, outcome.retry_after)
                for event_id in ids], stopped

    def post_ndjson(self, events: list[Event]) -> list[DeliveryResult]:
        """POST one event per line; any 2xx means every event of the request was accepted."""
        return self._post_all(events, _ndjson_body, _all_succeeded, "application/x-ndjson")

    def get_json(self, path: str, headers: Mapping[str, str] | None = None
                 ) -> dict[str, Any] | None:
        """GET a JSON object (e.g. the health endpoint); None on any error or non-2xx answer.

        `path` is an absolute URL or a path resolved against `url` (so `/api/v1/sync/health/`
        lands on the same scheme, host and port). A probe is optional: its refusals never
        close the gate (`auth_failure` is left alone).
        """
        reply = self.call("GET", path, headers=headers)
        return reply.body if reply.ok and isinstance(reply.body, dict) else None

    def call(self, method: str, path: str, *, data: Any = None,
             headers: Mapping[str, str] | None = None, default_headers: bool = True
             ) -> JsonReply:
        """One plain request under the total deadline (e.g. `/api/v1/me`, `/oauth/token`).

        `default_headers=False` sends only `headers` (an OAuth call must not carry the old
        bearer token). Never raises for an HTTP or transport failure.
        """
        sent = dict(self._headers) if default_headers else {"User-Agent": self._headers[
            "User-Agent"]}
        sent.update(headers or {})
        reply = self._exchange(method, urljoin(self.url, path), data, sent)
        if isinstance(reply, str):
            return JsonReply(0, None, reply)
        code = reply.status_code
        detail = "" if 200 <= code < 300 else f"HTTP {code} {self._clean(reply.reason or '')}"
        return JsonReply(code, _json_body(reply), detail.rstrip(),
                         parse_retry_after(reply.headers.get("Retry-After")))

    @staticmethod
    def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
        """`Retry-After` as seconds from now; see the module function."""
        return parse_retry_after(value, now)

    def _post_all(self, events: list[Event], encode: _Encode, interpret: _Interpret,
                  content_type: str) -> list[DeliveryResult]:
        """Split to the limits, then post each part; after a whole-batch failure the parts not
        yet sent share it instead of being posted into a server that just said no."""
        if not events:
            return []
        chunks, found = self._chunks(events)
        stopped: Refusal | None = None
        for chunk in chunks:
            results, stopped = self._deliver(chunk, encode, interpret, content_type, stopped)
            if len(chunk) == len(events):
                return results
            found.update((r.event_id, r) for r in results)
        return [found[event.event_id] for event in events]

    def _chunks(self, events: list[Event]) -> tuple[list[list[Event]], dict[str, DeliveryResult]]:
        """Parts within `max_events` and `max_bytes`; an event over `max_bytes` on its own is
        failed_permanent here, never sent."""
        count = self.max_events or len(events)
        if self.max_bytes is None:
            return [events[i:i + count] for i in range(0, len(events), count)], {}
        groups, oversize = self._plan([_json_size(event) for event in events])
        return ([[events[i] for i in group] for group in groups],
                {events[i].event_id: self._too_large(events[i].event_id, size)
                 for i, size in oversize.items()})

    def _too_large(self, event_id: str, size: int) -> DeliveryResult:
        return DeliveryResult(event_id, DeliveryStatus.FAILED_PERMANENT,
                              f"the event is {size} bytes; the server takes at most "
                              f"{self.max_bytes} bytes per request")

    def _plan(self, sizes: list[int]) -> tuple[list[list[int]], dict[int, int]]:
        """Index groups, in order, within `max_events` and `max_bytes` for events of these
        uncompressed sizes, and the size of each event too large on its own, by index."""
        count = self.max_events or len(sizes)
        budget = math.inf if self.max_bytes is None else self.max_bytes - _FRAME_BYTES
        groups: list[list[int]] = []
        current: list[int] = []
        used = 0
        oversize: dict[int, int] = {}
        for index, size in enumerate(sizes):
            if size > budget:
                oversize[index] = size
                continue
            if current and (len(current) >= count or used + 1 + size > budget):
                groups.append(current)
                current, used = [], 0
            used += size + (1 if current else 0)
            current.append(index)
        if current:
            groups.append(current)
        return groups, oversize

    def _deliver(self, batch: list[Event], encode: _Encode, interpret: _Interpret,
                 content_type: str, stopped: Refusal | None
                 ) -> tuple[list[DeliveryResult], Refusal | None]:
        """Post one part, splitting it while the server says "too large" or "poison"."""
        found: dict[str, DeliveryResult] = {}
        stack = [batch]
        while stack:
            part = stack.pop()
            outcome = stopped or self._post_once(encode(part), part, interpret, content_type)
            if isinstance(outcome, Refusal):
                if (outcome.too_large or outcome.poison) and len(part) > 1:
                    left, right = split_batch(part)
                    stack += [right, left]
                    continue
                if not (outcome.too_large or outcome.poison):
                    stopped = outcome
                outcome = outcome.results(part)
            if part is batch:
                return outcome, stopped
            found.update(zip([e.event_id for e in part], outcome, strict=True))
        return [found[event.event_id] for event in batch], stopped

    def _post_once(self, body: bytes, batch: list[Event], interpret: _Interpret,
                   content_type: str) -> _Outcome:
        headers = dict(self._headers)
        headers["Content-Type"] = content_type
        if self.gzip_min_bytes is not None and len(body) > self.gzip_min_bytes:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        reply = self._exchange("POST", self.url, body, headers)
        if isinstance(reply, str):
            return Refusal(_FAILED, reply)
        if 200 <= reply.status_code < 300:
            self.auth_failure = self.refused = None
            return interpret(reply, batch)
        return self._refusal(reply, len(body), batch)

    def _exchange(self, method: str, url: str, data: Any, headers: dict[str, str]
                  ) -> requests.Response | str:
        """The response, or what went wrong as one line; never longer than the total."""
        with deadline(self.total_timeout) as limit:
            try:
                return self.session.request(method, url, data=data, headers=headers,
                                            timeout=(self._connect, self._read),
                                            allow_redirects=False)
            except (requests.RequestException, OSError) as exc:
                if limit.fired:  # the same words as a read timeout: which of the two fires
                    # first when they are equal is a race, and the user's fix is the same
                    return f"read timeout after {self.total_timeout:g}s"
                return _transport_detail(exc, self._connect, self._read)

    def _refusal(self, reply: requests.Response, size: int, batch: list[Event]) -> _Outcome:
        """A non-2xx answer: a whole-batch outcome, a 400's per-event verdicts, or a raise."""
        code = reply.status_code
        body = _json_body(reply)
        if code in (401, 403):
            message = self._clean(str(body.get("error") or body.get("detail") or "")
                                  ) if isinstance(body, dict) else ""
            self.auth_failure = AuthFailure(code, _error_code(body), message)
            self.refused = AuthRefused(self.auth_failure)
            return Refusal(_FAILED, self.auth_failure.reason)
        if code == 412:
            self.refused = ProtocolRefused(protocol_guidance(body, self._clean))
            return Refusal(_FAILED, str(self.refused))
        if code == 413 or (400 <= code < 500 and is_oversize(body)):
            return Refusal(DeliveryStatus.FAILED_PERMANENT,
                           f"HTTP {code}: the server refuses this event as too large "
                           f"({size}-byte request)", too_large=True)
        if code == 400:
            return bad_request(body, batch, self.terminal_categories, self._clean)
        retry_after = parse_retry_after(reply.headers.get("Retry-After"))
        if retry_after is not None:  # a date days ahead still means "wait long", not "ignore"
            retry_after = min(retry_after, MAX_RETRY_AFTER)
        detail = f"HTTP {code} {self._clean(reply.reason or '')}".rstrip()
        if 300 <= code < 400:
            detail += " (redirects are not followed: configure the final URL)"
        if retry_after is not None:
            detail += f", retry after {retry_after:g}s"
        return Refusal(_FAILED, detail, retry_after)

    def _read_results(self, reply: requests.Response, batch: list[Event]) -> _Outcome:
        body = _json_body(reply, _NOT_JSON)
        if body is _NOT_JSON:
            return Refusal(_FAILED, f"HTTP {reply.status_code} with a body that is not JSON")
        return read_results(body, batch, self.terminal_categories, self._clean,
                            reply.status_code)

    def _read_stored(self, reply: requests.Response, batch: _Decoded) -> _Outcome:
        body = _json_body(reply, _NOT_JSON)
        items = body.get("results") if isinstance(body, dict) else None
        plain = _plain_results(items, batch.stored.event_ids) if isinstance(items, list) else None
        if plain is not None:
            return plain
        if body is _NOT_JSON:
            return Refusal(_FAILED, f"HTTP {reply.status_code} with a body that is not JSON")
        return read_results(body, batch.stored.events, self.terminal_categories, self._clean,
                            reply.status_code)

    def _clean(self, text: str) -> str:
        """Server-supplied text, one line, bounded, with any of our header values masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())[:MAX_DETAIL]


class _Decoded(Sequence[Event]):
    """A stored batch where the answer handlers expect events: decoded only if one looks."""

    def __init__(self, stored: StoredBatch) -> None:
        self.stored = stored

    def __len__(self) -> int:
        return len(self.stored.event_ids)

    def __getitem__(self, index: Any) -> Any:
        return self.stored.events[index]


_PLAIN_WORDS = {"success": DeliveryStatus.SUCCESS, "duplicate": DeliveryStatus.DUPLICATE}


def _plain_results(items: list[Any], ids: list[str]) -> list[DeliveryResult] | None:
    """The usual answer read in bulk: `success` or `duplicate` for every event, in the order
    sent, with an empty `error` at most. Anything else (reordered, missing, another word, any
    reason or category) is None, and `read_results` reads it item by item."""
    if len(items) != len(ids):
        return None
    statuses = []
    try:
        for item, event_id in zip(items, ids, strict=True):
            if (item.__class__ is not dict or item.get("event_id") != event_id
                    or item.get("error") or len(item) - ("error" in item) != 2):
                return None
            status = _PLAIN_WORDS.get(item.get("status"))
            if status is None:
                return None
            statuses.append(status)
    except TypeError:  # an unhashable status value
        return None
    return DeliveryResult.many(ids, statuses)


def split_batch(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """Two halves, the cut moved off the middle to the nearest place where it does not part
    events of one work package (`payload.wp_id`); the middle when there is no such place."""
    middle = len(events) // 2
    keys = [_wp_id(e) for e in events]
    for offset in range(len(events)):
        for cut in (middle - offset, middle + offset):
            if 0 < cut < len(events) and (keys[cut] is None or keys[cut] != keys[cut - 1]):
                return events[:cut], events[cut:]
    return events[:middle], events[middle:]


def _wp_id(event: Event) -> Any:
    payload = event.payload if isinstance(event.payload, dict) else {}
    value = payload.get("wp_id")
    return value if isinstance(value, str | int) else None


def _json_size(event: Event) -> int:
    return utf8_size(event.to_json())


def _stored_body(bodies: list[str]) -> bytes:
    return ('{"events":[' + ",".join(bodies) + "]}").encode()


def _budget(timeout: Timeout) -> tuple[float, float, float]:
    """(connect, per-read, total) seconds."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return connect, read, connect + read
    return min(CONNECT_TIMEOUT, timeout), timeout, timeout


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date in any of its three
    forms (RFC 9110 §5.6.7; asctime and RFC 850 carry no zone and mean GMT); garbage: None."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is true, and float("²") raises
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


_NOT_JSON = object()


def _json_body(reply: requests.Response, default: Any = None) -> Any:
    """The reply's JSON, or `default` for anything a parser refuses, including nesting deep
    enough to make `json.loads` raise RecursionError rather than ValueError."""
    try:
        return json.loads(reply.content)
    except (ValueError, RecursionError):
        return default


def _batch_body(events: list[Event]) -> bytes:
    return ('{"events":[' + ",".join([e.to_json() for e in events]) + "]}").encode()


def _ndjson_body(events: list[Event]) -> bytes:
    return "".join([e.to_json() + "\n" for e in events]).encode()


def _all_succeeded(reply: requests.Response, batch: list[Event]) -> _Outcome:
    return [DeliveryResult(e.event_id, DeliveryStatus.SUCCESS) for e in batch]


def _error_code(body: Any) -> str:
    """The code of a JSON error body (`code`, `error_code`, ... e.g. `private_teamspace`),
    when it is a plain token: free text could repeat what we sent."""
    for name in _CODE_FIELDS if isinstance(body, dict) else ():
        code = body.get(name)
        if isinstance(code, str) and _CODE_RE.match(code):
            return code
    return ""


def _transport_detail(exc: BaseException, connect: float, read: float) -> str:
    """Say what went wrong without the exception text, which repeats the URL and could carry
    a secret from its query string."""
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timeout after {connect:g}s"
    if isinstance(exc, requests.Timeout):
        return f"read timeout after {read:g}s"
    plain_os_error = isinstance(exc, OSError) and not isinstance(exc, requests.RequestException)
    if plain_os_error or isinstance(exc, requests.ConnectionError
                                    | requests.exceptions.ChunkedEncodingError):
        return f"connection failed: {_root_cause(exc)}"
    return f"request failed: {type(exc).__name__}"


def _root_cause(exc: BaseException) -> str:
    seen: set[int] = set()
    current: BaseException | None = exc
    names = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError | BrokenPipeError):
            return "connection reset by the server"
        names.append(type(current).__name__)
        current = current.__cause__ or current.__context__ or _first_arg_exception(current)
    if any("Incomplete" in n or "Protocol" in n or "ChunkedEncoding" in n for n in names):
        return "the server closed the connection mid-response"
    if any("NameResolution" in n or n == "gaierror" for n in names):
        return "host name not resolved"
    return names[-1]


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    """urllib3 wraps its causes in `args` (MaxRetryError.reason) rather than `__cause__`."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    return next((a for a in exc.args if isinstance(a, BaseException)), None)


def _secret_values(headers: Mapping[str, str], url: str = "") -> list[str]:
    """Every header value, and the credential after a scheme word (`Bearer <token>`), plus the
    URL's password and secret-looking query values; longest first so that a secret containing
    another is masked whole."""
    found: set[str] = set()
    for value in headers.values():
        text = str(value)
        found.add(text)
        found.update(text.split()[1:])
    try:
        parts = urlsplit(url)
        found.add(parts.password or "")
        found.update(v for k, v in parse_qsl(parts.query) if is_secret_option(k))
    except ValueError:
        pass
    return sorted((v for v in found if len(v) >= 4), key=len, reverse=True)


class _LogMask(logging.Filter):
    """Masks our secrets in urllib3's records, which at DEBUG print each request line, query
    string included. Installed on first use, on that one logger; it costs nothing unless its
    DEBUG records are enabled (no record is made otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self._installed = False

    def watch(self, secrets: Iterable[str]) -> None:
        fresh = set(secrets) - set(self._secrets)
        if fresh:
            self._secrets = sorted({*self._secrets, *fresh}, key=len, reverse=True)
        if not self._installed:
            self._installed = True
            logging.getLogger("urllib3.connectionpool").addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if secrets:
            text = record.getMessage()
            masked = text
            for secret in secrets:
                masked = masked.replace(secret, "***")
            if masked != text:
                record.msg, record.args = masked, None
        return True


_LOG_MASK = _LogMask()


def _safe_url(url: str) -> str:
    """The URL without userinfo or query, for repr: both can carry credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
