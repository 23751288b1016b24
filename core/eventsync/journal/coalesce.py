"""Coalescing in the journal: a newer status replaces an older one only while nobody has it.

For event types declared coalescible (config `[coalesce] types`), the coalesce key is
`(event_type, aggregate_id)`. A new event is always appended as a new row. The newest older live
event with the same key is then marked superseded; its payload is also dropped — the new event
*replaces* it — only while no drain has selected it (`journal_pin`: a drain pins each batch when
it selects it, before posting, in the database, so this holds across processes; an attempt that
failed may still have reached the server). Otherwise its stored bytes stay identical and every
target gets it, so targets never disagree about what happened. An `event_id` is never rewritten.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eventsync.events import Event
from eventsync.journal.journal import Journal
from eventsync.journal.lifecycle import JournalLifecycle


class CoalesceOutcome(enum.StrEnum):
    APPENDED = "appended"
    REPLACED = "replaced"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class Coalesced:
    """The stored event, what happened to its predecessor, and that predecessor's id."""

    event: Event
    outcome: CoalesceOutcome
    prior_event_id: str | None = None


class Coalescer:
    """Appends events, coalescing those whose type is declared coalescible."""

    def __init__(self, journal: Journal, types: Iterable[str]) -> None:
        self.journal = journal
        self.types = frozenset(types)
        self._lifecycle = JournalLifecycle(journal.store)

    def append(self, data: dict[str, Any] | Event) -> Coalesced:
        """Append one event; coalesce it when its type is coalescible."""
        event = self.journal.append_event(data)
        if event.event_type not in self.types:
            return Coalesced(event, CoalesceOutcome.APPENDED)
        row = self._lifecycle.lookup([event.event_id])[event.event_id]
        prior = self._lifecycle.supersede_prior(event, row.seq)
        if prior is None:
            return Coalesced(event, CoalesceOutcome.APPENDED)
        prior_id, replaced = prior
        outcome = CoalesceOutcome.REPLACED if replaced else CoalesceOutcome.SUPERSEDED
        return Coalesced(event, outcome, prior_id)
