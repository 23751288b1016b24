"""Where producer events enter: validation, then the store the configuration chooses.

The CLI and embedding applications go through here rather than the journal directly, so that
retention and opt-out policy is applied in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eventsync.errors import DuplicateEventId, InvalidEvent
from eventsync.events import Event
from eventsync.journal import AppendReport, Journal


class Ingest:
    """Applies the configured retention policy to incoming events."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def append(self, data: dict[str, Any]) -> Event | None:
        """Store one event; None when policy dropped it."""
        return self.journal.append_event(data)

    def import_many(self, numbered: Sequence[tuple[int, Any]]) -> AppendReport:
        """Store events read from a file, reporting a bad one by its line number."""
        for number, item in numbered:
            if not isinstance(item, dict):
                raise InvalidEvent(
                    f"line {number}: an event must be a JSON object; nothing was written"
                )
        try:
            return self.journal.ingest(item for _, item in numbered)
        except (InvalidEvent, DuplicateEventId) as exc:
            raise type(exc)(_with_line(str(exc), numbered)) from None


def _with_line(message: str, numbered: Sequence[tuple[int, Any]]) -> str:
    """Rewrite the journal's `event N` references as the file's line numbers."""
    def to_line(match: re.Match[str]) -> str:
        return f"{match.group(1)}line {numbered[int(match.group(2)) - 1][0]}"

    text = _EVENT_REF.sub(to_line, message)
    return text if text.endswith("nothing was written") else f"{text}; nothing was written"


# Only the journal's own wording is rewritten, never a user's value quoted inside a message.
_EVENT_REF = re.compile(r"(^|also used by )event ([0-9]+)\b")
