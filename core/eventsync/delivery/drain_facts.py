"""What an operator needs to know about a target's recent drains: its newest error and since when
it has been unreachable.

Kept in the target's metadata (beside the deployment facts) rather than derived from ledger rows,
so the answer is the same whether a drain read the journal or, with retention off, the offline
queue, whose rows keep no error text. The write happens only for a batch that failed or when the
target comes back, so a healthy drain pays nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsync.delivery.ledger import Batch, Outcome
from eventsync.delivery.sources import DeliverySource
from eventsync.delivery.targets import TargetRegistry
from eventsync.receivers import DeliveryResult, DeliveryStatus, Target

LAST_ERROR = "last_error"
LAST_ERROR_AT = "last_error_at"
UNREACHABLE_SINCE = "unreachable_since"


@dataclass(frozen=True)
class DrainFacts:
    """The facts `sync status` shows for one target (times in epoch ms, like the ledger's)."""

    last_error: str | None
    last_error_at: int | None
    unreachable_since: int | None

    @classmethod
    def of(cls, target: Target) -> DrainFacts:
        meta = target.metadata
        return cls(meta.get(LAST_ERROR), _ms(meta.get(LAST_ERROR_AT)),
                   _ms(meta.get(UNREACHABLE_SINCE)))


class WatchedSource:
    """A delivery source that notes failures and recoveries in the target's metadata."""

    def __init__(self, inner: DeliverySource, registry: TargetRegistry, target: Target) -> None:
        self.inner = inner
        self.registry = registry
        self.name = target.name
        self.unreachable = target.metadata.get(UNREACHABLE_SINCE) is not None

    def advance(self, done: Sequence[Outcome], limit: int) -> Batch:
        batch = self.inner.advance(done, limit)
        for _, results in done:
            facts = self._facts(results)
            if facts:
                self.registry.record_metadata(self.name, facts)
        return batch

    def estimate(self) -> int:
        return getattr(self.inner, "estimate", lambda: 0)()

    def remaining(self) -> int:
        return getattr(self.inner, "remaining", lambda: 0)()

    def _facts(self, results: list[DeliveryResult]) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        failed = [r for r in results  # by identity: a StrEnum property per event is costly
                  if r.status is not DeliveryStatus.SUCCESS
                  and r.status is not DeliveryStatus.DUPLICATE]
        if failed:
            newest = failed[-1]
            facts[LAST_ERROR] = one_line(newest.detail) or f"{newest.status.value} (no detail)"
            facts[LAST_ERROR_AT] = _now_ms()
        answered = any(r.status is not DeliveryStatus.FAILED_TRANSIENT for r in results)
        if results and not answered and not self.unreachable:
            facts[UNREACHABLE_SINCE] = _now_ms()
            self.unreachable = True
        elif answered and self.unreachable:
            facts[UNREACHABLE_SINCE] = None
            self.unreachable = False
        return facts


def one_line(text: str | None, limit: int = 300) -> str:
    """Whitespace collapsed and length capped: an error must fit one status line."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _ms(value: Any) -> int | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return int(value)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
