"""What one JetStream publish outcome means for the ledger, and the stream checks of preflight.

Pure functions over nats-py's answers, so every mapping is stated once and testable alone.
"""

from __future__ import annotations

import math
from typing import Any

import nats.errors
import nats.js.errors

import eventsync
from eventsync_nats.subjects import subjects_overlap

Status = eventsync.DeliveryStatus
# JetStream API error codes (nats-server's errors.json).
STREAM_NOT_FOUND = 10059
MESSAGE_TOO_LARGE = 10054
WRONG_STREAM = 10060


class NoStream(Exception):
    """JetStream had no stream for a subject: the receiver works out why, then closes the gate."""

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self.subject = subject


def result_for(event_id: str, outcome: Any, stream: str) -> eventsync.DeliveryResult:
    """A PubAck or the exception a publish raised, as one event's result."""
    if isinstance(outcome, nats.js.api.PubAck):
        if outcome.duplicate:
            return eventsync.DeliveryResult(event_id, Status.DUPLICATE,
                                            f"already in stream {outcome.stream}")
        return eventsync.DeliveryResult(event_id, Status.SUCCESS)
    if isinstance(outcome, nats.js.errors.APIError) and outcome.err_code == WRONG_STREAM:
        raise eventsync.ReceiverNotReady(
            f"the event's subject is stored by another stream than {stream}: change option "
            "subject, or move that subject to the stream")
    if isinstance(outcome, nats.errors.MaxPayloadError) or (
            isinstance(outcome, nats.js.errors.APIError)
            and outcome.err_code == MESSAGE_TOO_LARGE):
        return eventsync.DeliveryResult(event_id, Status.FAILED_PERMANENT,
                                        f"stream {stream} refuses a message this large")
    if isinstance(outcome, nats.js.errors.APIError):
        return eventsync.DeliveryResult(event_id, Status.FAILED_TRANSIENT,
                                        f"JetStream refused it: {outcome.description or 'error'}"
                                        f" (code {outcome.err_code})")
    return eventsync.DeliveryResult(event_id, Status.FAILED_TRANSIENT, describe_error(outcome))


def describe_error(error: Any) -> str:
    """One line about a transport failure; nats-py's exception names say most of it."""
    if isinstance(error, TimeoutError | nats.errors.TimeoutError):
        return "no ack from JetStream in time"
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text and text != name else name


def too_large(event_id: str, size: int, limit: int) -> eventsync.DeliveryResult:
    return eventsync.DeliveryResult(event_id, Status.FAILED_PERMANENT,
                                    f"the message is {size} bytes, over the server's max_payload "
                                    f"of {limit} bytes")


def check_stream(info: Any, *, stream: str, server: str, subject_filter: str,
                 horizon: Any) -> None:
    """Refuse a stream that cannot take the events or cannot deduplicate their re-posts."""
    subjects = list(info.config.subjects or [])
    if not any(subjects_overlap(pattern, subject_filter) for pattern in subjects):
        raise eventsync.ReceiverNotReady(
            f"stream {stream} on {server} does not take subjects {subject_filter} (it takes "
            f"{', '.join(subjects) or 'none'}): add them with `nats stream edit {stream} "
            f"--subjects '{subject_filter}'` or change option subject")
    window = float(info.config.duplicate_window or 0)
    needed = math.ceil(horizon.seconds)
    if window < needed:
        raise eventsync.ReceiverNotReady(
            f"stream {stream} keeps message ids for {window:g}s, shorter than the "
            f"{needed}s in which eventsync may re-post an event (work.lease_ttl_seconds "
            f"{horizon.lease_ttl_seconds:g} + retry.max_seconds {horizon.retry_max_seconds:g}): "
            f"run `nats stream edit {stream} --dupe-window {needed}s`")


def missing_stream(stream: str, server: str, subject_filter: str, window: float) -> str:
    return (f"stream {stream} does not exist on {server}: create it with `nats stream add "
            f"{stream} --subjects '{subject_filter}' --dupe-window {math.ceil(window)}s "
            "--defaults`, or re-add the target with --option create_stream=true")
