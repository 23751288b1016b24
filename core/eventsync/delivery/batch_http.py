"""A client for the batch HTTP contract (docs/batch-api.md), shared by the receivers that speak it.

One `requests.Session` per client keeps connections alive between batches. The request body is
spliced from each event's stored canonical JSON, never decoded and re-encoded: at drain rates that
re-encoding would cost as much as the HTTP round trip itself.

The mapping from HTTP outcomes to per-event results lives here once, so the stub, Teamspace and
external receivers cannot drift apart: 200 + `{"results": [...]}` -> one result per event; 401/403
-> `failed_transient` and `auth_failure` set (a receiver turns it into `ReceiverNotReady`); 413 ->
split the batch in halves down to single events, a single-event 413 being `failed_permanent`;
429/5xx/timeouts/connection errors -> `failed_transient` with `Retry-After` honoured. Header values
are secrets: they never reach a result's detail, an exception or a log line.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from eventsync.delivery.targets import is_secret_option
from eventsync.errors import ReceiverNotReady
from eventsync.events import Event
from eventsync.receivers import DeliveryResult, DeliveryStatus
from eventsync.version import __version__

__all__ = ["BATCH_PATH", "HEALTH_PATH", "AuthFailure", "BatchClient", "parse_retry_after"]

BATCH_PATH = "/api/v1/events/batch/"
HEALTH_PATH = "/api/v1/sync/health/"
DEFAULT_TIMEOUT = (5.0, 30.0)
# Level 1 compresses repetitive event JSON to roughly a fifth at a fraction of level 6's cost;
# on a drain the CPU is better spent elsewhere than on the last few percent of ratio.
GZIP_LEVEL = 1
MAX_DETAIL = 300
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_FAILED = DeliveryStatus.FAILED_TRANSIENT
_STATUSES = {status.value: status for status in DeliveryStatus}
Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class AuthFailure:
    """The server's last refusal of our credentials (HTTP 401 or 403) and its `code`, if any."""

    status: int
    code: str = ""

    @property
    def reason(self) -> str:
        """A one-line reason a receiver can raise as `ReceiverNotReady`; never holds a secret."""
        what = "refused the credentials" if self.status == 401 else "forbids this client"
        code = f", code {self.code}" if self.code else ""
        return f"the server {what} (HTTP {self.status}{code})"


@dataclass(frozen=True)
class _Failure:
    """One request's outcome when it applies to every event of the batch alike."""

    status: DeliveryStatus
    detail: str
    retry_after: float | None = None
    too_large: bool = False

    def results(self, events: Iterable[Event]) -> list[DeliveryResult]:
        return [DeliveryResult(e.event_id, self.status, self.detail, self.retry_after)
                for e in events]


# A request's outcome: one result per event of the batch, in its order, or a shared failure.
_Outcome = list[DeliveryResult] | _Failure
_Interpret = Callable[[requests.Response, list[Event]], _Outcome]
_Encode = Callable[[list[Event]], bytes]


class BatchClient:
    """Posts batches of events to one URL and maps every answer to per-event results.

    `url` is the endpoint posted to as-is (e.g. `https://host/api/v1/events/batch/`). `headers`
    are sent with every request and treated as secrets. `timeout` is `(connect, read)` seconds or
    one number for both. Bodies of more than `gzip_min_bytes` bytes are gzipped (None: never).
    A `session` passed in is used but not closed by `close()`.

    After a 401 or 403, `auth_failure` describes the refusal until a later request succeeds;
    `check_ready()` raises it as `ReceiverNotReady`, which is how a receiver reports not-ready
    from `preflight()` or before posting its next batch. A client is not thread-safe: use one
    per receiver.
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
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.gzip_min_bytes = gzip_min_bytes
        self.auth_failure: AuthFailure | None = None
        self._headers = {"User-Agent": f"eventsync/{__version__}", **dict(headers or {})}
        self._secrets = _secret_values(headers or {}, url)
        _LOG_MASK.watch(self._secrets)
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()

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

    def check_ready(self) -> None:
        """Raise `ReceiverNotReady` when the server's last answer refused our credentials."""
        if self.auth_failure is not None:
            raise ReceiverNotReady(self.auth_failure.reason)

    def post_batch(self, events: list[Event]) -> list[DeliveryResult]:
        """POST `{"events": [...]}`; return one result per event, in the order given."""
        return self._deliver(events, _batch_body, self._read_results, "application/json")

    def post_ndjson(self, events: list[Event]) -> list[DeliveryResult]:
        """POST one event per line; any 2xx means every event of the request was accepted."""
        return self._deliver(events, _ndjson_body, _all_succeeded, "application/x-ndjson")

    def get_json(self, path: str) -> dict[str, Any] | None:
        """GET a JSON object (e.g. the health endpoint); None on any error or non-2xx answer.

        `path` is an absolute URL or a path resolved against `url` (so `/api/v1/sync/health/`
        lands on the same scheme, host and port). A 401/403 still updates `auth_failure`.
        """
        try:
            reply = self.session.get(urljoin(self.url, path), headers=self._headers,
                                     timeout=self.timeout, allow_redirects=False)
        except requests.RequestException:
            return None
        if reply.status_code in (401, 403):
            self.auth_failure = AuthFailure(reply.status_code, _error_code(reply))
            return None
        body = _json_body(reply) if 200 <= reply.status_code < 300 else None
        return body if isinstance(body, dict) else None

    @staticmethod
    def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
        """`Retry-After` as seconds from now; see the module function."""
        return parse_retry_after(value, now)

    def _deliver(self, events: list[Event], encode: _Encode, interpret: _Interpret,
                 content_type: str) -> list[DeliveryResult]:
        """Post, halving on 413 until single events; after any other whole-batch failure the
        halves not yet sent share it instead of being posted into a server that just said no."""
        found: dict[str, DeliveryResult] = {}
        stack = [list(events)] if events else []
        stopped: _Failure | None = None
        while stack:
            batch = stack.pop()
            outcome = stopped or self._post_once(encode(batch), batch, interpret, content_type)
            if isinstance(outcome, _Failure):
                if outcome.too_large and len(batch) > 1:
                    half = len(batch) // 2
                    stack += [batch[half:], batch[:half]]
                    continue
                if not outcome.too_large:
                    stopped = outcome
                outcome = outcome.results(batch)
            if len(batch) == len(events) and not found:
                return outcome
            found.update(zip([e.event_id for e in batch], outcome, strict=True))
        return [found[event.event_id] for event in events]

    def _post_once(self, body: bytes, batch: list[Event], interpret: _Interpret,
                   content_type: str) -> _Outcome:
        headers = dict(self._headers)
        headers["Content-Type"] = content_type
        if self.gzip_min_bytes is not None and len(body) > self.gzip_min_bytes:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        try:
            reply = self.session.post(self.url, data=body, headers=headers,
                                      timeout=self.timeout, allow_redirects=False)
            if 200 <= reply.status_code < 300:
                self.auth_failure = None
                return interpret(reply, batch)
            return self._refusal(reply, len(body))
        except requests.RequestException as exc:
            return _Failure(_FAILED, _transport_detail(exc, self.timeout))

    def _refusal(self, reply: requests.Response, size: int) -> _Failure:
        """A non-2xx answer, which always concerns the whole batch."""
        code = reply.status_code
        retry_after = parse_retry_after(reply.headers.get("Retry-After"))
        if code in (401, 403):
            self.auth_failure = AuthFailure(code, _error_code(reply))
            return _Failure(_FAILED, self.auth_failure.reason)
        if code == 413:
            return _Failure(DeliveryStatus.FAILED_PERMANENT,
                            f"HTTP 413: the server refuses this event as too large "
                            f"({size}-byte request)", too_large=True)
        detail = f"HTTP {code} {self._clean(reply.reason or '')}".rstrip()
        if 300 <= code < 400:
            detail += " (redirects are not followed: configure the final URL)"
        if retry_after is not None:
            detail += f", retry after {retry_after:g}s"
        return _Failure(_FAILED, detail, retry_after)

    def _read_results(self, reply: requests.Response, batch: list[Event]) -> _Outcome:
        """`{"results": [...]}` -> one result per sent event; anything else fails the batch.
        Results are matched by `event_id`; the first for an id wins, others are ignored."""
        body = _json_body(reply, _NOT_JSON)
        if body is _NOT_JSON:
            return _Failure(_FAILED, f"HTTP {reply.status_code} with a body that is not JSON")
        items = body.get("results") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return _Failure(_FAILED, f'HTTP {reply.status_code} without a "results" list')
        found: dict[str, DeliveryResult] = {}
        for item in items:
            event_id = item.get("event_id") if isinstance(item, dict) else None
            if isinstance(event_id, str) and event_id not in found:
                found[event_id] = self._result_from(event_id, item)
        return [found.get(e.event_id)
                or DeliveryResult(e.event_id, _FAILED, "no result for this event in the answer")
                for e in batch]

    def _result_from(self, event_id: str, item: dict[str, Any]) -> DeliveryResult:
        raw = item.get("status")
        status = _STATUSES.get(raw) if isinstance(raw, str) else None
        if status is None:
            shown = self._clean(repr(raw)[:40])
            return DeliveryResult(event_id, _FAILED, f"unknown status {shown} from the server")
        error = item.get("error")
        return DeliveryResult(event_id, status, self._clean(str(error)) if error else "")

    def _clean(self, text: str) -> str:
        """Server-supplied text, one line, bounded, with any of our header values masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())[:MAX_DETAIL]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date; garbage gives None."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is true, and float("²") raises
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
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


def _error_code(reply: requests.Response) -> str:
    """The `code` of a JSON error body (e.g. `private_teamspace`), when it is a plain token."""
    body = _json_body(reply)
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and _CODE_RE.match(code) else ""


def _transport_detail(exc: requests.RequestException, timeout: Timeout) -> str:
    """Say what went wrong without the exception text, which repeats the URL and could carry
    a secret from its query string."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timeout after {connect:g}s"
    if isinstance(exc, requests.Timeout):
        return f"read timeout after {read:g}s"
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
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
