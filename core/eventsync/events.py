"""The event record, its id and its canonical JSON form.

The canonical JSON (sorted keys, no spaces, UTF-8) is computed once at append and stored; the
dispatcher splices those stored bytes into request bodies instead of re-encoding, which is what
makes delivery cheap.

An event is also an envelope: producers such as spec-kitty send fields eventsync has no use for
(`node_id`, `lamport_clock`, `correlation_id`, `build_id`, `project_uuid`, ...), and the server
at the other end needs them. Every top-level field beyond the Event keys is kept verbatim in
`extra` and written back into the canonical JSON, so an envelope comes out as it went in.
Ids and timestamps follow spec_kitty_events (SPEC-KITTY-COMPAT.md §1.1): ULIDs in any case are
stored uppercase, UUIDs lowercase and hyphenated; a timestamp keeps the producer's spelling
(`Z` or `+00:00`) but must carry an offset.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json import encoder as json_encoder
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
# fullmatch, never `$`: `$` also matches before a trailing newline, which would be spliced raw
# into the stored JSON and make it unreadable.
_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
# what spec_kitty_events accepts as a ULID once uppercased: Crockford base32, no 128-bit check
_ANY_ULID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32_RE = re.compile(r"[0-9a-f]{32}")
_TYPE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_TS_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?"
)
_UTC_ZONES = frozenset({"Z", "+00:00", "-00:00"})
_FORBIDDEN_TEXT = re.compile(r"[\x00\n\r]")
_PLAIN_TEXT = re.compile(r"[^\x00\n\r\ud800-\udfff]{1,256}")
_PRODUCER_KEYS = frozenset({"user", "team", "project"})
_MAX_AGGREGATE_ID = 256
_KEY_SET = frozenset(EVENT_KEYS)
_KEY_COUNT = len(EVENT_KEYS)
_ENCODE_STR = json_encoder.encode_basestring
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_PAIRS = tuple(_CROCKFORD[i >> 5] + _CROCKFORD[i & 31] for i in range(1024))


class _UlidClock:
    """Monotonic ULIDs: ids made in one millisecond still sort in creation order.

    Within a millisecond each id is the previous one plus one, so only its last two characters
    usually change: the first 24 are cached, and encoding goes ten bits (two characters) per
    table lookup. A 26-step loop per id was the largest cost of building an event.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0
        self._head = -1
        self._head_text = ""

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now <= self._last_ms:
                now, rand = self._last_ms, self._last_rand + 1
                if rand >> 80:
                    now, rand = now + 1, _random80()
            else:
                rand = _random80()
            self._last_ms, self._last_rand = now, rand
            head = (now << 70) | (rand >> 10)
            if head != self._head:
                self._head, self._head_text = head, _encode_pairs(head, 120)
            return self._head_text + _PAIRS[rand & 1023]


def _random80() -> int:
    return int.from_bytes(os.urandom(10), "big")


def _encode_pairs(value: int, bits: int) -> str:
    """Crockford base32 of the low `bits` bits of `value` (`bits` a multiple of 10)."""
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(bits - 10, -1, -10)])


_clock = _UlidClock()
# A forked child must not continue the parent's random sequence within the same millisecond,
# or parent and child would hand out the same ids.
os.register_at_fork(after_in_child=_clock.__init__)


def new_ulid() -> str:
    """Return a new 26-character Crockford base32 ULID."""
    return _clock.next()


def is_ulid(value: object) -> bool:
    """Tell whether `value` is a syntactically valid ULID string."""
    return isinstance(value, str) and _ULID_RE.fullmatch(value) is not None


def canonical_json(value: Any) -> str:
    """Encode `value` as canonical JSON, refusing what another parser could read differently."""
    return _canonical_sized(value)[0]


def _canonical_sized(value: Any) -> tuple[str, int]:
    """Canonical JSON and its UTF-8 size; encoding to UTF-8 is also what catches lone surrogates.

    ASCII text (the common case) can hold no surrogate and its size is its length, so it skips
    the encode.
    """
    try:
        text = _CANONICAL(value)
        size = utf8_size(text)
    except UnicodeEncodeError:
        raise InvalidEvent("payload holds a lone surrogate, which is not valid UTF-8") from None
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise InvalidEvent("payload holds NaN or Infinity, which JSON cannot carry") from None
        raise InvalidEvent(f"payload is not JSON-serialisable: {_short(exc)}") from None
    except (TypeError, RecursionError) as exc:
        raise InvalidEvent(f"payload is not JSON-serialisable: {_short(exc)}") from None
    if not _text_keys(value):
        raise InvalidEvent("payload object keys must be strings (JSON has no other keys)")
    return text, size


def _text_keys(value: Any) -> bool:
    """Whether every object key, at any depth, is a str.

    The encoder would turn `{10: .., 9: ..}` into `{"9":..,"10":..}`: keys sorted as numbers, not
    as the strings they become, so the stored bytes would not be canonical and the same event
    read back would no longer match them. Runs after a successful encode, so the nesting is
    already known to be within the recursion limit; scalars cost one set lookup each.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if key.__class__ is not str and not isinstance(key, str):
                return False
            if item.__class__ not in _SCALARS and not _text_keys(item):
                return False
    elif isinstance(value, list | tuple):
        for item in value:
            if item.__class__ not in _SCALARS and not _text_keys(item):
                return False
    return True


_SCALARS = frozenset({str, int, float, bool, type(None)})


def utc_timestamp(epoch: float | None = None) -> str:
    """ISO-8601 UTC with a `Z`, millisecond precision."""
    ms = time.time_ns() // 1_000_000 if epoch is None else round(epoch * 1_000_000) // 1000
    seconds, millis = divmod(ms, 1000)
    return f"{_second_prefix(seconds)}{millis:03d}Z"


@functools.lru_cache(maxsize=8)
def _second_prefix(seconds: int) -> str:
    """The date-and-second part, formatted once per second rather than once per event."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


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
    extra: dict[str, Any] = field(default_factory=dict)
    _json: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form: every Event key, then the producer's other envelope fields."""
        return {**{key: getattr(self, key) for key in EVENT_KEYS}, **self.extra}

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
        return _from_data(json.loads(text), text)

    @classmethod
    def many_from_json(cls, texts: list[str]) -> list[Event]:
        """`from_json` for a batch: one parser call for all of them (half the cost per event)."""
        datas = json.loads("[" + ",".join(texts) + "]") if texts else []
        return [_from_data(d, text) for d, text in zip(datas, texts, strict=True)]


def _from_data(d: dict[str, Any], text: str) -> Event:
    """An Event over parsed stored JSON; keys beyond the Event keys are the envelope's extras."""
    extra = {k: v for k, v in d.items() if k not in _KEY_SET} if len(d) > _KEY_COUNT else {}
    return Event(d["event_id"], d["event_type"], d["aggregate_id"], d["payload"], d["timestamp"],
                 d.get("aggregate_type", ""), d.get("producer"), d.get("family", "teamspace"),
                 extra, text)


def build_event(data: dict[str, Any], *, max_event_bytes: int = MAX_EVENT_BYTES) -> Event:
    """Validate a mapping with the Event JSON keys (plus any envelope fields) and return an Event
    with its canonical JSON.

    Everything a user can get wrong is checked here, before any write, so that bad input raises
    `InvalidEvent` and leaves the journal untouched.
    """
    if not isinstance(data, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {type(data).__name__}")
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidEvent(f"payload must be a JSON object, not {type(payload).__name__}")
    payload_text, size = _canonical_sized(payload)
    if size > max_event_bytes:
        raise InvalidEvent(f"payload is {size} bytes, over the {max_event_bytes}-byte limit")
    event_id = normalize_event_id(data.get("event_id"))
    event_type = _check_type(data.get("event_type"))
    aggregate_id = _check_text("aggregate_id", data.get("aggregate_id"), required=True)
    aggregate_type = _check_text("aggregate_type", data.get("aggregate_type", ""), required=False)
    timestamp = _check_timestamp(data.get("timestamp"))
    producer = data.get("producer")
    if producer is None:
        producer = derive_producer(data)
    producer_text = _producer_json(producer)
    family = _check_family(data.get("family", "teamspace"))
    if not data.keys() <= _KEY_SET:
        return _with_extra(data, event_id, event_type, aggregate_id, aggregate_type, payload,
                           timestamp, producer, family, max_event_bytes)
    # The whole event's canonical JSON, spliced around the payload text instead of encoding it
    # twice; the keys are written in sorted order, exactly what `canonical_json` produces.
    text = _ENCODE_STR
    head = (f'{{"aggregate_id":{text(aggregate_id)},"aggregate_type":{text(aggregate_type)}'
            f',"event_id":"{event_id}","event_type":"{event_type}","family":"{family}"'
            f',"payload":')
    tail = f',"producer":{producer_text},"timestamp":"{timestamp}"}}'
    size += utf8_size(head) + utf8_size(tail)
    if size > max_event_bytes:
        raise InvalidEvent(f"the event is {size} bytes, over the {max_event_bytes}-byte limit")
    spliced = head + payload_text + tail
    return Event(event_id=event_id, event_type=event_type, aggregate_id=aggregate_id,
                 payload=payload, timestamp=timestamp, aggregate_type=aggregate_type,
                 producer=producer, family=family, _json=spliced)


def utf8_size(text: str) -> int:
    """UTF-8 bytes of `text`: its length when ASCII (the usual case; `isascii()` is O(1)),
    without encoding it. A lone surrogate raises UnicodeEncodeError (events never hold one)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _with_extra(data: dict[str, Any], event_id: str, event_type: str, aggregate_id: str,
                aggregate_type: str, payload: dict[str, Any], timestamp: str,
                producer: dict[str, Any] | None, family: str, max_event_bytes: int) -> Event:
    """An envelope with fields beyond the Event keys: kept verbatim, checked as JSON and size."""
    extra = {key: value for key, value in data.items() if key not in _KEY_SET}
    for key in extra:
        if not isinstance(key, str):
            raise InvalidEvent("event field names must be strings (JSON has no other keys)")
    event = Event(event_id=event_id, event_type=event_type, aggregate_id=aggregate_id,
                  payload=payload, timestamp=timestamp, aggregate_type=aggregate_type,
                  producer=producer, family=family, extra=extra)
    try:
        text, size = _canonical_sized(event.to_dict())
    except InvalidEvent as exc:
        raise InvalidEvent(str(exc).replace("payload", "an envelope field", 1)) from None
    if size > max_event_bytes:
        raise InvalidEvent(f"the event is {size} bytes, over the {max_event_bytes}-byte limit")
    return Event(event_id, event_type, aggregate_id, payload, timestamp, aggregate_type,
                 producer, family, extra, text)


def derive_producer(data: dict[str, Any]) -> dict[str, Any] | None:
    """`{"team": team_slug, "project": project_uuid}` from a spec-kitty envelope, when present.

    The scope rule (CONTRACTS.md §2) needs to know whose event this is; spec-kitty says so in
    `team_slug` and `project_uuid` rather than in a producer object. A value that is not plain
    text is left out rather than refused: it still travels verbatim in the envelope.
    """
    derived = {}
    for key, source in (("team", "team_slug"), ("project", "project_uuid")):
        value = data.get(source)
        if isinstance(value, str) and _PLAIN_TEXT.fullmatch(value):
            derived[key] = value
    return derived or None


_PRODUCERS: dict[tuple[Any, ...], str] = {}  # producers repeat: most events share a handful
_NO_KEY = object()


def _producer_json(value: Any) -> str:
    """Validate the producer and return its canonical JSON in the same pass over its keys.

    A producer already seen (same keys, same values) is not validated and encoded again: a
    bulk import has one or a few, and this was a tenth of building an event."""
    if value is None:
        return "null"
    if not isinstance(value, dict) or not value.keys() <= _PRODUCER_KEYS:
        raise InvalidEvent("producer must be an object with only user, team and project keys")
    key = (value.get("user", _NO_KEY), value.get("team", _NO_KEY),
           value.get("project", _NO_KEY))
    try:
        return _PRODUCERS[key]
    except KeyError:
        text = _encode_producer(value)
    except TypeError:  # an unhashable value: refused below
        return _encode_producer(value)
    if len(_PRODUCERS) >= 1024:
        _PRODUCERS.clear()
    _PRODUCERS[key] = text
    return text


def _encode_producer(value: dict[str, Any]) -> str:
    parts = []
    for key in sorted(value):
        item = value[key]
        if item is None:
            parts.append(f'"{key}":null')
            continue
        if not (isinstance(item, str) and (item == "" or _PLAIN_TEXT.fullmatch(item))):
            raise _text_error(f"producer {key}", item, required=False)
        parts.append(f'"{key}":{_ENCODE_STR(item)}')
    return "{" + ",".join(parts) + "}"


def _check_type(value: Any) -> str:
    if not isinstance(value, str) or _TYPE_RE.fullmatch(value) is None:
        raise InvalidEvent(
            f"event_type {_show(value)} must be 1-128 characters of letters, digits and _ . : -"
        )
    return value


def _check_text(name: str, value: Any, *, required: bool) -> str:
    """One regex for the common, valid case; the specific complaint only on failure."""
    if isinstance(value, str) and (_PLAIN_TEXT.fullmatch(value) or not (value or required)):
        return value
    raise _text_error(name, value, required=required)


def _text_error(name: str, value: Any, *, required: bool) -> InvalidEvent:
    if not isinstance(value, str):
        return InvalidEvent(f"{name} must be a string, not {type(value).__name__}")
    if required and not value:
        return InvalidEvent(f"{name} must not be empty")
    if len(value) > _MAX_AGGREGATE_ID:
        return InvalidEvent(f"{name} is longer than {_MAX_AGGREGATE_ID} characters")
    if _FORBIDDEN_TEXT.search(value):
        return InvalidEvent(f"{name} must not contain NUL or line breaks")
    return InvalidEvent(f"{name} holds a lone surrogate, which is not valid UTF-8")


def normalize_event_id(value: Any) -> str:
    """spec_kitty_events' rule: a ULID in any case becomes uppercase, a UUID (hyphenated or 32
    hex digits) lowercase and hyphenated; no id at all gets a new ULID."""
    if value is None:
        return new_ulid()
    if isinstance(value, str):
        if len(value) == 26 and _ANY_ULID_RE.fullmatch(upper := value.upper()):
            return upper
        lower = value.lower()
        if len(value) == 36 and _UUID_RE.fullmatch(lower):
            return lower
        if len(value) == 32 and _HEX32_RE.fullmatch(lower):
            return f"{lower[:8]}-{lower[8:12]}-{lower[12:16]}-{lower[16:20]}-{lower[20:]}"
    raise InvalidEvent(
        f"event_id {_show(value)} is neither a ULID (26 Crockford base32 characters, no I, L, O"
        " or U) nor a UUID"
    )


def _check_timestamp(value: Any) -> str:
    if value is None:
        return utc_timestamp()
    match = _TS_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidEvent(
            f"timestamp {_show(value)} must be ISO-8601 with a UTC offset (Z or +00:00)"
        )
    zone = match.group("zone")
    if zone is None:
        raise InvalidEvent(f"timestamp {_show(value)} has no UTC offset (a naive time is"
                           " ambiguous): end it in Z or +00:00")
    if zone not in _UTC_ZONES:
        raise InvalidEvent(f"timestamp {_show(value)} is not in UTC (offset {zone}): give the "
                           "same moment ending in Z or +00:00")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"timestamp {_show(value)} is not a real date and time") from None
    return value


def _check_family(value: Any) -> str:
    if value not in FAMILIES:
        raise InvalidEvent(f"family must be one of {', '.join(FAMILIES)}, not {_show(value)}")
    return value


def _field_name(key: Any) -> str:
    """An unknown field as typed when it is a plain name, else bounded and quoted: it is user
    input and may hold line breaks or megabytes."""
    return key if isinstance(key, str) and _TYPE_RE.fullmatch(key) else _show(key)


def _show(value: Any) -> str:
    """A bounded repr for error messages: bad input can be megabytes long."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
