"""select -> post -> record, until nothing is due. Never deletes or edits an event.

The dispatcher trusts no receiver: an exception, a missing result, a result for an event it did
not send, or something that is not a `DeliveryResult` all become `failed_transient` for the
events concerned, so a buggy plugin can delay delivery but never corrupt the ledger.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from eventsync.delivery.ledger import Batch, Outcome
from eventsync.delivery.sources import DeliverySource
from eventsync.delivery.targets import is_secret_option
from eventsync.errors import ReceiverNotReady
from eventsync.receivers import DeliveryReceiver, DeliveryResult, DeliveryStatus, StoredBatch

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
        self.count([result.status for result in results])

    def count(self, statuses: list[DeliveryStatus]) -> None:
        """`list.count` compares members by identity first: no per-event Python call."""
        delivered = statuses.count(DeliveryStatus.SUCCESS)
        duplicate = statuses.count(DeliveryStatus.DUPLICATE)
        failed = statuses.count(DeliveryStatus.FAILED_PERMANENT)
        self.attempted += len(statuses)
        self.delivered += delivered
        self.duplicate += duplicate
        self.terminal_failed += failed
        self.retrying += len(statuses) - delivered - duplicate - failed

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
    poster = _Poster(receiver)
    try:
        stopped = _pipeline(receiver, source, poster, report, batch_size, progress, should_stop)
    finally:
        poster.close()
    if stopped:
        report.stopped = stopped
        remaining = getattr(source, "remaining", None)
        report.remaining = remaining() if remaining is not None else 0
    return report


def _pipeline(receiver: DeliveryReceiver, source: DeliverySource, poster: _Poster,
              report: DrainReport, batch_size: int, progress: Callable[[int], None] | None,
              should_stop: Callable[[], bool] | None) -> str | None:
    """While batch N is posted, N-1's outcomes are recorded and N+1 is selected (one write
    transaction). At most one batch waits selected and one is in flight; outcomes are recorded
    in posting order, and whatever is unrecorded when a drain dies is simply due again.
    Returns why it stopped early, once everything posted is recorded (None: nothing left)."""
    done: list[Outcome] = []
    batch = source.advance(done, batch_size)
    failed_batches = 0
    try:
        while len(batch):
            if should_stop is not None and should_stop():
                return "stopped on request"
            poster.submit(batch)
            following = source.advance(done, batch_size)
            done = []
            results, raised = poster.result()
            done = [(batch, results)]
            statuses = [result.status for result in results]
            report.count(statuses)
            report.last_error = _last_error(results, statuses) or report.last_error
            if progress is not None:
                progress(len(results))
            if statuses.count(DeliveryStatus.FAILED_TRANSIENT) == len(statuses):
                receiver.preflight()
                failed_batches += 1
                if failed_batches >= UNREACHABLE_AFTER:
                    why = "receiver error" if raised else "target unreachable"
                    return f"{why}: {results[0].detail}"
            else:
                failed_batches = 0
            batch = following
        done.append((batch, []))  # an empty selection may still move the cursor past skips
    finally:
        if done:
            source.advance(done, 0)
    return None


def _last_error(results: list[DeliveryResult], statuses: list[DeliveryStatus]) -> str | None:
    """The newest problem in a batch; a delivered batch (the usual case) is not scanned."""
    delivered = statuses.count(DeliveryStatus.SUCCESS) + statuses.count(DeliveryStatus.DUPLICATE)
    if delivered == len(statuses):
        return None
    return next((r.detail for r in reversed(results) if not r.status.delivered and r.detail),
                None)


class _Poster:
    """Posts one batch at a time on its own thread, so that SQLite work overlaps the network.

    `deliver()` always runs on this one thread, one call at a time; `preflight()` and the rest of
    the receiver stay on the drain's thread, never at the same time as a post. The thread is a
    daemon: a drain interrupted mid-post does not keep the process alive until the post ends.
    """

    def __init__(self, receiver: DeliveryReceiver) -> None:
        self.receiver = receiver
        self._jobs: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="eventsync-post", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        self._jobs.put(batch)

    def result(self) -> tuple[list[DeliveryResult], bool]:
        """The submitted batch's results, and whether the receiver raised (not a network
        error); its `ReceiverNotReady` (or worse) is raised here."""
        ok, value = self._results.get()
        if ok:
            return value
        raise value

    def close(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (batch := self._jobs.get()) is not None:
            try:
                self._results.put((True, _deliver(self.receiver, batch)))
            except BaseException as exc:  # handed to the drain's thread, which raises it
                self._results.put((False, exc))


def deliver_safely(receiver: DeliveryReceiver, batch: StoredBatch) -> list[DeliveryResult]:
    """Exactly one well-formed result per event sent, whatever the receiver did."""
    return _deliver(receiver, batch)[0]


def _deliver(receiver: DeliveryReceiver, batch: StoredBatch
             ) -> tuple[list[DeliveryResult], bool]:
    """`deliver_safely`, and whether the receiver itself raised something other than a
    network error (an `OSError`: refused, reset, timed out), i.e. a bug in the receiver."""
    try:
        raw = receiver.deliver_stored(batch)
    except ReceiverNotReady:
        raise
    except Exception as exc:  # a receiver bug or a network error must not lose the batch
        detail = _redact(f"{type(exc).__name__}: {exc}", _secrets(receiver))
        return [DeliveryResult(event_id, DeliveryStatus.FAILED_TRANSIENT, detail)
                for event_id in batch.event_ids], not isinstance(exc, OSError)
    return normalise_results(batch.event_ids, raw, receiver), False


def normalise_results(event_ids: list[str], raw: Any, receiver: DeliveryReceiver
                      ) -> list[DeliveryResult]:
    """Keep the first valid result per sent event; anything else counts as transient failure.

    An event left without a result is marked with what the receiver got wrong ("receiver
    returned 997 results for 1,000 events"), so its author sees the broken contract in
    `sync status` instead of a vague retry. A result with nothing to clean (no detail, no
    Retry-After) is kept as it is: that is nearly every result of a healthy drain, and
    rebuilding each would cost more than the post. The rest get their detail redacted and
    bounded.
    """
    wanted = set(event_ids)
    secrets = _secrets(receiver)
    found: dict[str, DeliveryResult] = {}
    items = list(raw) if isinstance(raw, list | tuple) else []
    for item in items:
        if item.__class__ is not DeliveryResult and not isinstance(item, DeliveryResult):
            continue
        event_id = item.event_id
        if event_id.__class__ is not str or event_id not in wanted or event_id in found:
            continue
        if item.detail or item.retry_after is not None or item.__class__ is not DeliveryResult:
            item = DeliveryResult(event_id, item.status,
                                  _redact(str(item.detail or ""), secrets)[:500],
                                  _retry_after(item.retry_after))
        found[event_id] = item
    if len(found) == len(event_ids):
        return [found[event_id] for event_id in event_ids]
    missing = _contract_breach(event_ids, raw, items, wanted)
    return [found.get(event_id) or DeliveryResult(event_id, DeliveryStatus.FAILED_TRANSIENT,
                                                  missing) for event_id in event_ids]


def _contract_breach(event_ids: list[str], raw: Any, items: list[Any], wanted: set[str]) -> str:
    """One line naming how the receiver broke "one result per event it was given"."""
    if not isinstance(raw, list | tuple):
        return (f"receiver returned {type(raw).__name__}, not a list of results, "
                f"for {len(event_ids):,} events")
    shaped = [item for item in items
              if isinstance(item, DeliveryResult) and isinstance(item.event_id, str)]
    faults = {
        "not well-formed DeliveryResult objects": len(items) - len(shaped),
        "for ids it was not sent": sum(1 for item in shaped if item.event_id not in wanted),
        "repeated": len(shaped) - len({item.event_id for item in shaped}),
    }
    text = f"receiver returned {len(items):,} results for {len(event_ids):,} events"
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
