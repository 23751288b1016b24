"""Where producer events enter: validation, then the store the configuration chooses.

The CLI and embedding applications go through here rather than the journal directly, so that
retention, opt-out and coalescing policy is applied in exactly one place:

- retention on: the journal (coalescible types through the coalescer);
- retention off with a delivery target: `spill`, which the caller points at the bounded offline
  queue of that target's scope (the queue domain sits above the journal, so it is handed in);
- retention off, delivery none (opt-out): `local`-family events are dropped and counted;
  `teamspace`-family events must not be discarded, so they are journaled and the refused
  discard is audited.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsync.audit import DROPPED_LOCAL, REFUSED_DISCARD, AuditLog
from eventsync.config import EventSyncConfig
from eventsync.errors import ConfigError, DuplicateEventId, InvalidEvent
from eventsync.events import Event, build_event
from eventsync.journal.coalesce import Coalescer
from eventsync.journal.journal import Journal


@dataclass(frozen=True)
class IngestReport:
    """What an import did: stored events, how many were new, already there, or dropped."""

    events: list[Event]
    appended: int
    duplicates: int
    dropped: int = 0


class Ingest:
    """Applies the configured retention policy to incoming events."""

    def __init__(self, journal: Journal, config: EventSyncConfig | None = None, *,
                 spill: Callable[[Event], None] | None = None) -> None:
        self.journal = journal
        self.config = config or EventSyncConfig()
        self._spill = spill
        self._audit: AuditLog | None = None

    def append(self, data: dict[str, Any]) -> Event | None:
        """Store one event; None when the opt-out policy dropped it."""
        if self._plain_journal():
            return self.journal.append_event(data)
        event = build_event(data, max_event_bytes=self.journal.max_event_bytes)
        return self._route(event, data)

    def import_many(self, numbered: Sequence[tuple[int, Any]],
                    raw_lines: Sequence[bytes] | None = None) -> IngestReport:
        """Store events read from a file, reporting a bad one by its line number.

        Every line is validated before anything is stored, whatever the policy. Given the raw
        lines, a line without an `event_id` gets one derived from the input
        (`derive_import_ids`), so importing the same file again appends nothing twice.
        """
        for number, item in numbered:
            if not isinstance(item, dict):
                raise InvalidEvent(
                    f"line {number}: an event must be a JSON object; nothing was written"
                )
        if raw_lines is not None:
            derived = derive_import_ids(zip((item for _, item in numbered), raw_lines,
                                            strict=True))
            for item, event_id in derived:
                if item.get("event_id") is None:
                    item["event_id"] = event_id
        try:
            if self._plain_journal():
                report = self.journal.ingest(item for _, item in numbered)
                return IngestReport(report.events, report.appended, report.duplicates)
        except (InvalidEvent, DuplicateEventId) as exc:
            raise type(exc)(_with_line(str(exc), numbered)) from None
        events = []
        for number, item in numbered:
            try:
                events.append(build_event(item, max_event_bytes=self.journal.max_event_bytes))
            except InvalidEvent as exc:
                raise InvalidEvent(f"line {number}: {exc}; nothing was written") from None
        return self._route_many(events, [item for _, item in numbered])

    def _plain_journal(self) -> bool:
        return self.config.retention and not self.config.coalesce_types

    def _route_many(self, events: list[Event], raw: list[dict[str, Any]]) -> IngestReport:
        stored: list[Event] = []
        dropped = 0
        for event, data in zip(events, raw, strict=True):
            result = self._route(event, data)
            if result is None:
                dropped += 1
            else:
                stored.append(result)
        return IngestReport(stored, len(stored), 0, dropped)

    def _route(self, event: Event, data: dict[str, Any]) -> Event | None:
        config = self.config
        if config.retention:
            if event.event_type in config.coalesce_types:
                coalescer = Coalescer(self.journal, config.coalesce_types)
                return coalescer.append(data).event
            return self.journal.append_event(data)
        if config.delivers:
            return self._enqueue(event)
        if event.family == "local":
            self.audit.bump(DROPPED_LOCAL)
            return None
        stored = self.journal.append_event(data)
        self.audit.record(REFUSED_DISCARD, stored.event_id,
                          {"reason": "opt-out keeps teamspace-family events",
                           "event_type": stored.event_type})
        return stored

    def _enqueue(self, event: Event) -> Event:
        if self._spill is None:
            raise ConfigError("retention is off, but no offline queue was given to store events in")
        self._spill(event)
        return event

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            self._audit = AuditLog(self.journal.store)
        return self._audit


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHAIN_START = b"eventsync import v1"


def derive_import_ids(lines: Iterable[tuple[Any, bytes]]) -> Iterator[tuple[Any, str]]:
    """A deterministic event id for each (item, raw line) of an import file, so a re-run of the
    same input (after a crash, or by mistake) finds every line it already committed.

    Line N's id is derived from a hash chained over lines 1..N, so identical lines at different
    places are different events, and a file that grew keeps the ids of the lines it had. The
    ULID's time part is the line's own `timestamp` when it has a valid one, else hash bits too.
    """
    chain = _CHAIN_START
    for item, raw in lines:
        chain = hashlib.sha256(chain + raw.strip()).digest()
        yield item, _ulid_from(chain, item)


def _ulid_from(digest: bytes, item: Any) -> str:
    millis = _timestamp_ms(item.get("timestamp")) if isinstance(item, dict) else None
    if millis is None:
        millis = int.from_bytes(digest[10:16], "big")
    value = (millis << 80) | int.from_bytes(digest[:10], "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _timestamp_ms(value: Any) -> int | None:
    """Milliseconds of a UTC timestamp (`Z`, `+00:00` or `-00:00`, as events accept); None
    for anything else, which validation refuses anyway."""
    if not isinstance(value, str) or not value.endswith(("Z", "+00:00", "-00:00")):
        return None
    try:
        moment = datetime.fromisoformat(value.removesuffix("Z").removesuffix("+00:00")
                                        .removesuffix("-00:00") + "+00:00")
    except ValueError:
        return None
    millis = int(moment.timestamp() * 1000)
    return millis if 0 <= millis < 1 << 48 else None


def _with_line(message: str, numbered: Sequence[tuple[int, Any]]) -> str:
    """Rewrite `event N` references (the journal's, or a validation index) as line numbers."""
    def to_line(match: re.Match[str]) -> str:
        return f"{match.group(1)}line {numbered[int(match.group(2)) - 1][0]}"

    text = _EVENT_REF.sub(to_line, message)
    return text if text.endswith("nothing was written") else f"{text}; nothing was written"


# Only the journal's own wording is rewritten, never a user's value quoted inside a message.
_EVENT_REF = re.compile(r"(^|also used by )event ([0-9]+)\b")
