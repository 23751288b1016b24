"""What a batch server's answers mean (docs/batch-api.md), apart from moving the bytes.

The words are Teamspace's, which the stub also speaks: `success`, `accepted` and `warning` are
delivered, `duplicate` is delivered already, `queued` and `pending` are kept and asked again,
`rejected` is retried, unless its category is one the receiver declares terminal. An HTTP 400
either names the events it refuses (`details`), or does not, and then the client bisects the
batch until the poison event stands alone. Kept free of sockets so every rule is a plain
function of a parsed body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from eventsync.events import Event
from eventsync.receivers import DeliveryResult, DeliveryStatus

__all__ = ["STATUS_WORDS", "Refusal", "bad_request", "category_of", "is_oversize",
           "protocol_guidance", "read_results", "result_from"]

S = DeliveryStatus
STATUS_WORDS = {
    "success": S.SUCCESS, "accepted": S.SUCCESS, "warning": S.SUCCESS,
    "duplicate": S.DUPLICATE,
    "queued": S.PENDING, "pending": S.PENDING,
    "rejected": S.REJECTED,
    "failed_transient": S.FAILED_TRANSIENT,
    "failed_permanent": S.FAILED_PERMANENT,
}
# Legacy servers say "sync_batch_too_large" / "request_too_large" / "payload too large", newer
# ones "too large" or "oversized": any of them in any of these fields means "send less".
OVERSIZE_WORDS = ("too large", "too_large", "oversized")
_OVERSIZE_FIELDS = ("error", "message", "detail", "error_code", "category", "code")
_CATEGORY_FIELDS = ("error_category", "category", "code")
_REASON_FIELDS = ("error_message", "detail", "error", "reason")
Clean = Callable[[str], str]


@dataclass(frozen=True)
class Refusal:
    """An answer that concerns the whole batch alike.

    `too_large`: halve and resend; `poison`: a 400 that names no event, so bisect to find it.
    """

    status: DeliveryStatus
    detail: str
    retry_after: float | None = None
    too_large: bool = False
    poison: bool = False

    def results(self, events: Iterable[Event]) -> list[DeliveryResult]:
        return [DeliveryResult(e.event_id, self.status, self.detail, self.retry_after)
                for e in events]


def category_of(item: dict[str, Any]) -> str:
    """The refusal category a result or detail carries, lowercase ('' when none)."""
    for name in _CATEGORY_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()[:64]
    return ""


def result_from(event_id: str, item: dict[str, Any], terminal: Collection[str],
                clean: Clean) -> DeliveryResult:
    """One `results[]` entry as a DeliveryResult; an unknown word is retried, never trusted."""
    raw = item.get("status")
    status = STATUS_WORDS.get(raw.strip().lower()) if isinstance(raw, str) else None
    if status is None:
        return DeliveryResult(event_id, S.FAILED_TRANSIENT,
                              f"unknown status {clean(repr(raw)[:40])} from the server")
    reason = _reason(item, clean)
    category = category_of(item)
    if status is S.REJECTED and category in terminal:
        return DeliveryResult(event_id, S.FAILED_PERMANENT, _with_category(category, reason))
    return DeliveryResult(event_id, status, reason)


def read_results(body: Any, batch: list[Event], terminal: Collection[str], clean: Clean,
                 code: int = 200) -> list[DeliveryResult] | Refusal:
    """`{"results": [...]}` -> one result per sent event, matched by `event_id` (the first
    for an id wins); anything else fails the whole batch, transiently."""
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return Refusal(S.FAILED_TRANSIENT, f'HTTP {code} without a "results" list')
    found: dict[str, DeliveryResult] = {}
    for item in items:
        event_id = item.get("event_id") if isinstance(item, dict) else None
        if isinstance(event_id, str) and event_id not in found:
            found[event_id] = result_from(event_id, item, terminal, clean)
    missing = "no result for this event in the answer"
    return [found.get(e.event_id) or DeliveryResult(e.event_id, S.FAILED_TRANSIENT, missing)
            for e in batch]


def bad_request(body: Any, batch: list[Event], terminal: Collection[str], clean: Clean
                ) -> list[DeliveryResult] | Refusal:
    """HTTP 400: the events its `details` name are rejected with their reason (or terminal by
    category); the others were refused only for their company and are retried. Without
    details that name a sent event, the batch holds a poison event: bisect."""
    refused = _details(body, {e.event_id for e in batch})
    error = _reason(body, clean) if isinstance(body, dict) else ""
    if not refused:
        detail = "HTTP 400" + (f": {error}" if error else "")
        return Refusal(S.REJECTED, detail, poison=True)
    results = []
    for event in batch:
        entry = refused.get(event.event_id)
        if entry is None:
            results.append(DeliveryResult(event.event_id, S.FAILED_TRANSIENT,
                                          "not stored: the server refused this batch (HTTP 400)"
                                          " for other events in it"))
            continue
        reason = _reason(entry, clean) or error or "refused by the server (HTTP 400)"
        category = category_of(entry)
        status = S.FAILED_PERMANENT if category in terminal else S.REJECTED
        results.append(DeliveryResult(event.event_id, status, _with_category(category, reason)))
    return results


def is_oversize(body: Any) -> bool:
    """Whether an error body says the request was too large (besides HTTP 413 itself)."""
    if not isinstance(body, dict):
        return False
    for name in _OVERSIZE_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and any(w in value.lower() for w in OVERSIZE_WORDS):
            return True
    return False


def protocol_guidance(body: Any, clean: Clean) -> str:
    """The one line to show for HTTP 412: the server's upgrade guidance, else its description."""
    data = body if isinstance(body, dict) else {}
    code = data.get("error_code")
    category = code if code in ("client-too-old", "client-too-new",
                                "client-protocol-unparseable") else "protocol_mismatch"
    protocol = data.get("sync_protocol")
    guidance = protocol.get("upgrade_guidance") if isinstance(protocol, dict) else None
    text = guidance if isinstance(guidance, str) and guidance.strip() else \
        data.get("error_description")
    if not (isinstance(text, str) and text.strip()):
        text = "upgrade eventsync to a version that speaks the server's sync protocol"
    return f"the server refuses this client's sync protocol (HTTP 412 {category}): {clean(text)}"


def _details(body: Any, sent: set[str]) -> dict[str, dict[str, Any]]:
    """`details` (a list, or a JSON string of one) by event id, only for events we sent."""
    raw = body.get("details") if isinstance(body, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raw = None
    found: dict[str, dict[str, Any]] = {}
    for entry in raw if isinstance(raw, list) else ():
        event_id = entry.get("event_id") if isinstance(entry, dict) else None
        if isinstance(event_id, str) and event_id in sent and event_id not in found:
            found[event_id] = entry
    return found


def _reason(item: dict[str, Any], clean: Clean) -> str:
    for name in _REASON_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return clean(value)
    return ""


def _with_category(category: str, reason: str) -> str:
    if not category:
        return reason
    return f"{category}: {reason}" if reason and category not in reason.lower() else \
        (reason or category)
