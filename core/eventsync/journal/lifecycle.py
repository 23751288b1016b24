"""Journal rows after append: what the operator's lifecycle commands read and rewrite.

`journal.py` only ever appends. Removing or restoring a payload is an explicit operator action
(`sync gc`, `sync migrate`, `sync migrate --resolve`), so those few statements live here, apart
from the append path. A removed payload leaves a tombstone: the row stays with `body` NULL, its
`seq` is never reused (AUTOINCREMENT) and the ledger's rows for it keep saying what was delivered
where and when.

Nothing here reads delivery's tables: whether an event already went to a target is the pin
that delivery keeps in the journal's own `journal_pin` table (`journal.pin_through`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from eventsync.events import Event
from eventsync.journal.journal import SCHEMA as JOURNAL_SCHEMA
from eventsync.store import Store

CHUNK = 500

_ENTRIES = (
    "SELECT seq, event_id, event_type, aggregate_id, family, body_bytes, appended_at"
    " FROM journal WHERE body IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?"
)
_BODIES = (
    "SELECT seq, appended_at, body FROM journal WHERE body IS NOT NULL AND seq > ?"
    " AND appended_at < ? ORDER BY seq LIMIT ?"
)
_PRIOR = (
    "SELECT j.seq, j.event_id FROM journal j WHERE j.event_type = ? AND j.aggregate_id = ?"
    " AND j.seq < ? AND j.body IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM journal_superseded s WHERE s.seq = j.seq)"
    " ORDER BY j.seq DESC LIMIT 1"
)
_PINNED = "SELECT 1 FROM journal_pin WHERE seq >= ?"

@dataclass(frozen=True)
class RetainedEvent:
    """A live journal row as a retention policy sees it: metadata only, no payload decoding."""

    seq: int
    event_id: str
    event_type: str
    aggregate_id: str
    family: str
    body_bytes: int
    appended_at: int


@dataclass(frozen=True)
class StoredRow:
    """A journal row found by event id; `body` is None for a tombstone."""

    seq: int
    event_id: str
    event_type: str
    aggregate_id: str
    body: str | None


class JournalLifecycle:
    """Reads for gc / archive / migrate, and the only statements that rewrite journal rows."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(JOURNAL_SCHEMA)

    def entries(self) -> Iterator[RetainedEvent]:
        """Every live event, oldest first, read in pages so a huge journal streams."""
        after = 0
        while True:
            page = self.store.execute(_ENTRIES, (after, CHUNK)).fetchall()
            yield from (RetainedEvent(*row) for row in page)
            if len(page) < CHUNK:
                return
            after = page[-1][0]

    def live_count(self) -> int:
        return int(self.store.execute(
            "SELECT COUNT(*) FROM journal WHERE body IS NOT NULL").fetchone()[0])

    def tombstone_count(self) -> int:
        return int(self.store.execute(
            "SELECT COUNT(*) FROM journal WHERE body IS NULL").fetchone()[0])

    def bodies_before(self, cutoff_ms: int) -> Iterator[list[tuple[int, int, str]]]:
        """Pages of `(seq, appended_at, body)` for live events appended before `cutoff_ms`."""
        after = 0
        while True:
            page = self.store.execute(_BODIES, (after, cutoff_ms, CHUNK)).fetchall()
            if page:
                yield page
            if len(page) < CHUNK:
                return
            after = page[-1][0]

    def lookup(self, event_ids: Iterable[str]) -> dict[str, StoredRow]:
        """Journal rows (tombstones included) for these ids."""
        ids = list(dict.fromkeys(event_ids))
        found: dict[str, StoredRow] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            marks = ",".join("?" * len(chunk))
            cur = self.store.execute(
                "SELECT seq, event_id, event_type, aggregate_id, body FROM journal"
                f" WHERE event_id IN ({marks})", tuple(chunk),
            )
            found.update((row[1], StoredRow(*row)) for row in cur)
        return found

    def bury(self, seqs: Iterable[int]) -> tuple[int, int]:
        """Drop the payloads of these events, keeping their rows; (events, bytes) freed."""
        ordered = sorted(set(seqs))
        events = freed = 0
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start:start + CHUNK]
            marks = ",".join("?" * len(chunk))
            with self.store.transaction() as conn:
                row = conn.execute(
                    "SELECT COUNT(*), COALESCE(SUM(body_bytes), 0) FROM journal"
                    f" WHERE body IS NOT NULL AND seq IN ({marks})", chunk,
                ).fetchone()
                conn.execute(
                    f"UPDATE journal SET body = NULL WHERE body IS NOT NULL AND seq IN ({marks})",
                    chunk,
                )
            events += row[0]
            freed += row[1]
        return events, freed

    def restore(self, events: list[Event]) -> list[str]:
        """Put archived payloads back into their tombstones; returns the ids that had none.

        Only a tombstone of the same event type and aggregate is filled, so the ledger history
        kept on that row still describes the event it now holds.
        """
        missed: list[str] = []
        for start in range(0, len(events), CHUNK):
            with self.store.transaction() as conn:
                for event in events[start:start + CHUNK]:
                    body = event.to_json()
                    cur = conn.execute(
                        "UPDATE journal SET body = ?, body_bytes = ? WHERE event_id = ?"
                        " AND body IS NULL AND event_type = ? AND aggregate_id = ?",
                        (body, len(body.encode("utf-8")), event.event_id, event.event_type,
                         event.aggregate_id),
                    )
                    if cur.rowcount != 1:
                        missed.append(event.event_id)
        return missed

    def replace(self, event: Event, expected_body: str | None) -> bool:
        """Swap a never-delivered event's stored version for another one with the same id.

        Compare-and-swap on the old bytes, so a concurrent change is never overwritten blindly.
        """
        body = event.to_json()
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE journal SET body = ?, body_bytes = ?, event_type = ?, aggregate_id = ?,"
                " family = ? WHERE event_id = ? AND body IS ?",
                (body, len(body.encode("utf-8")), event.event_type, event.aggregate_id,
                 event.family, event.event_id, expected_body),
            )
            return cur.rowcount == 1

    def supersede_prior(self, event: Event, seq: int) -> tuple[str, bool] | None:
        """Mark the newest older live event of `event`'s type and aggregate superseded by `seq`.

        The mark lives in its own table, so the prior's journal row is not touched. Its payload
        is dropped too (a replacement) only if delivery has not pinned it: a drain pins a batch
        in the same write-locked transaction that selects it, so either this runs first and the
        drain never reads the old payload, or the pin is there and the payload stays as posted.
        Returns `(prior event_id, replaced)`, or None when there was none.
        """
        with self.store.transaction() as conn:
            prior = conn.execute(_PRIOR, (event.event_type, event.aggregate_id, seq)).fetchone()
            if prior is None:
                return None
            replace = conn.execute(_PINNED, (prior[0],)).fetchone() is None
            conn.execute("INSERT INTO journal_superseded (seq, by_seq) VALUES (?, ?)",
                         (prior[0], seq))
            if replace:
                conn.execute("UPDATE journal SET body = NULL WHERE seq = ?", (prior[0],))
        return prior[1], replace
