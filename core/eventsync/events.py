"""The event record, its id and its canonical JSON form.

The canonical JSON (sorted keys, no spaces, UTF-8) is computed once at append and stored; the
dispatcher splices those stored bytes into request bodies instead of re-encoding, which is what
makes delivery cheap.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsync.errors import InvalidEvent

MAX_EVENT_BYTES = 256 * 1024
FAMILIES = ("teamspace", "local")
EVENT_KEYS = (
    "event_id",
    "event_type",
    "aggregate_id",
    "aggregate_type",
    "payload",
    "timestamp",
    "producer",
    "family",
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_TYPE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_PRODUCER_KEYS = frozenset({"user", "team", "project"})
_MAX_AGGREGATE_ID = 256
_KEY_SET = frozenset(EVENT_KEYS)
_ENCODE_STR = json.JSONEncoder(ensure_ascii=False).encode


class _UlidClock:
    """Monotonic ULIDs: ids made in one millisecond still sort in creation order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now <= self._last_ms:
                now = self._last_ms
                rand = self._last_rand + 1
            else:
                rand = int.from_bytes(os.urandom(10), "big")
            self._last_ms, self._last_rand = now, rand
        value = (now << 80) | (rand & ((1 << 80) - 1))
        out = []
        for _ in range(26):
            out.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(out))


_clock = _UlidClock()


def new_ulid() -> str:
    """Return a new 26-character Crockford base32 ULID."""
    return _clock.next()


def is_ulid(value: object) -> bool:
    """Tell whether `value` is a syntactically valid ULID string."""
    return isinstance(value, str) and bool(_ULID_RE.match(value)) and value[0] <= "7"


def canonical_json(value: Any) -> str:
    """Encode `value` as canonical JSON, refusing what another parser could read differently."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        text.encode("utf-8")
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise InvalidEvent("payload holds NaN or Infinity, which JSON cannot carry") from None
        raise InvalidEvent(f"payload is not JSON-serialisable: {_short(exc)}") from None
    except (TypeError, RecursionError) as exc:
        raise InvalidEvent(f"payload is not JSON-serialisable: {_short(exc)}") from None
    except UnicodeEncodeError:
        raise InvalidEvent("payload holds a lone surrogate, which is not valid UTF-8") from None
    return text


def utc_timestamp(epoch: float | None = None) -> str:
    """ISO-8601 UTC with a `Z`, millisecond precision."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable fact. Field order and names are the public JSON form (CONTRACTS.md §2)."""

    event_id: str
    event_type: str
    aggregate_id: str
    payload: dict[str, Any]
    timestamp: str
    aggregate_type: str = ""
    producer: dict[str, Any] | None = None
    family: str = "teamspace"
    _json: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form, every key present."""
        return {key: getattr(self, key) for key in EVENT_KEYS}

    def to_json(self) -> str:
        """Canonical JSON of the whole event; the stored bytes when the event came from disk."""
        if self._json is not None:
            return self._json
        return canonical_json(self.to_dict())

    @property
    def payload_json(self) -> str:
        """Canonical JSON of the payload alone."""
        return canonical_json(self.payload)

    @classmethod
    def from_json(cls, text: str) -> Event:
        """Rebuild a stored event; the text is canonical because it came from the journal."""
        data = json.loads(text)
        return cls(
            event_id=data["event_id"],
            event_type=data["event_type"],
            aggregate_id=data["aggregate_id"],
            payload=data["payload"],
            timestamp=data["timestamp"],
            aggregate_type=data.get("aggregate_type", ""),
            producer=data.get("producer"),
            family=data.get("family", "teamspace"),
            _json=text,
        )


def build_event(data: dict[str, Any], *, max_event_bytes: int = MAX_EVENT_BYTES) -> Event:
    """Validate a mapping with the Event JSON keys and return an Event with its canonical JSON.

    Everything a user can get wrong is checked here, before any write, so that bad input raises
    `InvalidEvent` and leaves the journal untouched.
    """
    if not isinstance(data, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {type(data).__name__}")
    if not data.keys() <= _KEY_SET:
        unknown = sorted(map(str, set(data) - _KEY_SET))
        raise InvalidEvent(f"unknown event field(s): {', '.join(unknown)}")
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidEvent(f"payload must be a JSON object, not {type(payload).__name__}")
    payload_text = canonical_json(payload)
    size = len(payload_text.encode("utf-8"))
    if size > max_event_bytes:
        raise InvalidEvent(f"payload is {size} bytes, over the {max_event_bytes}-byte limit")
    event = Event(
        event_id=_check_id(data.get("event_id")),
        event_type=_check_type(data.get("event_type")),
        aggregate_id=_check_text("aggregate_id", data.get("aggregate_id"), required=True),
        payload=payload,
        timestamp=_check_timestamp(data.get("timestamp")),
        aggregate_type=_check_text(
            "aggregate_type", data.get("aggregate_type", ""), required=False
        ),
        producer=_check_producer(data.get("producer")),
        family=_check_family(data.get("family", "teamspace")),
    )
    object.__setattr__(event, "_json", _splice(event, payload_text))
    return event


def _splice(event: Event, payload_text: str) -> str:
    """Canonical JSON of the whole event, reusing the payload text instead of encoding it twice.

    The keys are written in sorted order, which is exactly what `canonical_json` would produce.
    """
    text = _ENCODE_STR
    producer = "null" if event.producer is None else canonical_json(event.producer)
    return (
        f'{{"aggregate_id":{text(event.aggregate_id)},"aggregate_type":{text(event.aggregate_type)}'
        f',"event_id":"{event.event_id}","event_type":"{event.event_type}"'
        f',"family":"{event.family}","payload":{payload_text},"producer":{producer}'
        f',"timestamp":"{event.timestamp}"}}'
    )


def _check_type(value: Any) -> str:
    if not isinstance(value, str) or not _TYPE_RE.match(value):
        raise InvalidEvent(
            f"event_type {value!r} must be 1-128 characters of letters, digits and _ . : -"
        )
    return value


def _check_text(name: str, value: Any, *, required: bool) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string, not {type(value).__name__}")
    if required and not value:
        raise InvalidEvent(f"{name} must not be empty")
    if len(value) > _MAX_AGGREGATE_ID:
        raise InvalidEvent(f"{name} is longer than {_MAX_AGGREGATE_ID} characters")
    if any(ch in value for ch in "\x00\n\r"):
        raise InvalidEvent(f"{name} must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{name} holds a lone surrogate, which is not valid UTF-8") from None
    return value


def _check_id(value: Any) -> str:
    if value is None:
        return new_ulid()
    if not is_ulid(value):
        raise InvalidEvent(f"event_id {value!r} is not a ULID (26 Crockford base32 characters)")
    return value


def _check_timestamp(value: Any) -> str:
    if value is None:
        return utc_timestamp()
    if not isinstance(value, str) or not _TS_RE.match(value):
        raise InvalidEvent(f"timestamp {value!r} must be ISO-8601 UTC ending in Z")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"timestamp {value!r} is not a real date and time") from None
    return value


def _check_producer(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= _PRODUCER_KEYS:
        raise InvalidEvent("producer must be an object with only user, team and project keys")
    if not all(v is None or isinstance(v, str) for v in value.values()):
        raise InvalidEvent("producer values must be strings")
    return value


def _check_family(value: Any) -> str:
    if value not in FAMILIES:
        raise InvalidEvent(f"family must be one of {', '.join(FAMILIES)}, not {value!r}")
    return value
