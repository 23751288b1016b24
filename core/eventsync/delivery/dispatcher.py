"""select -> post -> record, until nothing is due. Never deletes or edits an event.

The dispatcher trusts no receiver: an exception, a missing result, a result for an event it did
not send, or something that is not a `DeliveryResult` all become `failed_transient` for the
events concerned, so a buggy plugin can delay delivery but never corrupt the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from eventsync.delivery.sources import DeliverySource
from eventsync.delivery.targets import is_secret_option
from eventsync.errors import ReceiverNotReady
from eventsync.events import Event
from eventsync.receivers import DeliveryReceiver, DeliveryResult, DeliveryStatus

DEFAULT_BATCH_SIZE = 500
UNREACHABLE_AFTER = 3


@dataclass
class DrainReport:
    """What one drain did; `to_dict()` is the `sync now --json` shape."""

    target: str
    attempted: int = 0
    delivered: int = 0
    duplicate: int = 0
    retrying: int = 0
    terminal_failed: int = 0
    stopped: str | None = None
    remaining: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, results: list[DeliveryResult]) -> None:
        self.attempted += len(results)
        for result in results:
            if result.status is DeliveryStatus.SUCCESS:
                self.delivered += 1
            elif result.status is DeliveryStatus.DUPLICATE:
                self.duplicate += 1
            elif result.status is DeliveryStatus.FAILED_PERMANENT:
                self.terminal_failed += 1
            else:
                self.retrying += 1

    def merge(self, other: DrainReport) -> None:
        for name in ("attempted", "delivered", "duplicate", "retrying", "terminal_failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.stopped = other.stopped or self.stopped
        self.remaining = other.remaining
        self.last_error = other.last_error or self.last_error


def drain(
    receiver: DeliveryReceiver,
    source: DeliverySource,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    preflight: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> DrainReport:
    """Post everything `source` has due through `receiver` and record each outcome.

    The receiver's gate is checked first unless the caller already did (`ReceiverNotReady`
    propagates and nothing is recorded; after a batch that failed entirely the gate is checked
    again, so a server refusing credentials stops the drain at once). It stops early after a
    few consecutive batches that failed entirely and transiently: the target is unreachable,
    and posting the rest would only burn attempts.
    """
    report = DrainReport(receiver.target.name)
    if preflight:
        receiver.preflight()
    failed_batches = 0
    while True:
        if should_stop is not None and should_stop():
            return _stop(report, source, "stopped on request")
        batch = source.next_batch(batch_size)
        if not batch.items:
            return report
        results, raised = _deliver(receiver, batch.events)
        source.record(batch, results)
        report.add(results)
        report.last_error = _last_error(results) or report.last_error
        if progress is not None:
            progress(len(results))
        if all(r.status is DeliveryStatus.FAILED_TRANSIENT for r in results):
            receiver.preflight()
            failed_batches += 1
            if failed_batches >= UNREACHABLE_AFTER:
                why = "receiver error" if raised else "target unreachable"
                return _stop(report, source, f"{why}: {results[0].detail}")
        else:
            failed_batches = 0


def _stop(report: DrainReport, source: DeliverySource, reason: str) -> DrainReport:
    """End a drain early, counting what it leaves due but never tried (CONTRACTS §6 exit 3)."""
    report.stopped = reason
    remaining = getattr(source, "remaining", None)
    report.remaining = remaining() if remaining is not None else 0
    return report


def _last_error(results: list[DeliveryResult]) -> str | None:
    return next((r.detail for r in reversed(results) if not r.status.delivered and r.detail),
                None)


def deliver_safely(receiver: DeliveryReceiver, events: list[Event]) -> list[DeliveryResult]:
    """Exactly one well-formed result per event sent, whatever the receiver did."""
    return _deliver(receiver, events)[0]


def _deliver(receiver: DeliveryReceiver, events: list[Event]
             ) -> tuple[list[DeliveryResult], bool]:
    """`deliver_safely`, and whether the receiver itself raised something other than a
    network error (an `OSError`: refused, reset, timed out), i.e. a bug in the receiver."""
    try:
        raw = receiver.deliver(events)
    except ReceiverNotReady:
        raise
    except Exception as exc:  # a receiver bug or a network error must not lose the batch
        detail = _redact(f"{type(exc).__name__}: {exc}", _secrets(receiver))
        return [DeliveryResult(e.event_id, DeliveryStatus.FAILED_TRANSIENT, detail)
                for e in events], not isinstance(exc, OSError)
    return normalise_results(events, raw, receiver), False


def normalise_results(events: list[Event], raw: Any, receiver: DeliveryReceiver
                      ) -> list[DeliveryResult]:
    """Keep the first valid result per sent event; anything else counts as transient failure.

    An event left without a result is marked with what the receiver got wrong ("receiver
    returned 997 results for 1,000 events"), so its author sees the broken contract in
    `sync status` instead of a vague retry.
    """
    wanted = {event.event_id for event in events}
    secrets = _secrets(receiver)
    found: dict[str, DeliveryResult] = {}
    items = list(raw) if isinstance(raw, list | tuple) else []
    for item in items:
        if (isinstance(item, DeliveryResult) and isinstance(item.event_id, str)
                and item.event_id in wanted and item.event_id not in found):
            found[item.event_id] = DeliveryResult(
                item.event_id, item.status, _redact(str(item.detail or ""), secrets)[:500],
                _retry_after(item.retry_after),
            )
    if len(found) == len(events):
        return [found[e.event_id] for e in events]
    missing = _contract_breach(events, raw, items, wanted)
    return [found.get(e.event_id) or DeliveryResult(e.event_id, DeliveryStatus.FAILED_TRANSIENT,
                                                    missing) for e in events]


def _contract_breach(events: list[Event], raw: Any, items: list[Any], wanted: set[str]) -> str:
    """One line naming how the receiver broke "one result per event it was given"."""
    if not isinstance(raw, list | tuple):
        return (f"receiver returned {type(raw).__name__}, not a list of results, "
                f"for {len(events):,} events")
    shaped = [item for item in items
              if isinstance(item, DeliveryResult) and isinstance(item.event_id, str)]
    faults = {
        "not well-formed DeliveryResult objects": len(items) - len(shaped),
        "for ids it was not sent": sum(1 for item in shaped if item.event_id not in wanted),
        "repeated": len(shaped) - len({item.event_id for item in shaped}),
    }
    text = f"receiver returned {len(items):,} results for {len(events):,} events"
    extras = ", ".join(f"{count:,} {what}" for what, count in faults.items() if count)
    return text + (f" ({extras})" if extras else "") + "; none valid for this event"


def _retry_after(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 86_400:
        return float(value)
    return None


def _redact(text: str, secrets: list[str]) -> str:
    """Receivers may echo their configuration into errors; secret values never leave."""
    for value in secrets:
        text = text.replace(value, "***")
    return " ".join(text.split())


def _secrets(receiver: DeliveryReceiver) -> list[str]:
    """Secret option values and the target URL's password and secret query values, longest
    first (so a secret containing another is masked whole)."""
    target = getattr(receiver, "target", None)
    options = getattr(target, "options", None) or {}
    found = {str(v) for k, v in options.items() if is_secret_option(k)}
    try:
        parts = urlsplit(getattr(target, "url", "") or "")
        found.update((parts.password or "", unquote(parts.password or "")))
        found.update(v for k, v in parse_qsl(parts.query) if is_secret_option(k))
    except ValueError:
        pass
    return sorted((value for value in found if len(value) >= 4), key=len, reverse=True)
