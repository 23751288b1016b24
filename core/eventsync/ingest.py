"""Where producer events enter: validation, then the store the configuration chooses.

The CLI and embedding applications go through here rather than the journal directly, so that
retention and opt-out policy is applied in exactly one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsync.errors import InvalidEvent
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
        except InvalidEvent as exc:
            raise InvalidEvent(_with_line(str(exc), numbered)) from None


def _with_line(message: str, numbered: Sequence[tuple[int, Any]]) -> str:
    """Rewrite the journal's `event N:` prefix as the file's line number."""
    prefix, _, rest = message.partition(": ")
    if prefix.startswith("event ") and prefix[6:].isdigit():
        line = numbered[int(prefix[6:]) - 1][0]
        return f"line {line}: {rest}; nothing was written"
    return message
