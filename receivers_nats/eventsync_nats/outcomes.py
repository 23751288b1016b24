"""What one JetStream publish outcome means for the ledger, and the stream checks of preflight.

Pure functions over nats-py's answers, so every mapping is stated once and testable alone.
nats-py is imported inside the functions that need it: every eventsync command loads this
plugin, and only a NATS drain should pay for importing nats-py (about 0.1-0.3 s a process).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import eventsync
from eventsync_nats.subjects import subjects_overlap

Status = eventsync.DeliveryStatus
# JetStream API error codes (nats-server's errors.json).
STREAM_NOT_FOUND = 10059
MESSAGE_TOO_LARGE = 10054
WRONG_STREAM = 10060


@dataclass(frozen=True)
class Ack:
    """JetStream stored the message (`duplicate`: it already had that message id)."""

    stream: str
    seq: int
    duplicate: bool


@dataclass(frozen=True)
class Refusal:
    """JetStream answered with an error."""

    code: int
    err_code: int
    description: str


NO_RESPONDERS = "no-responders"


def parse_reply(data: bytes, headers: dict[str, str] | None) -> Ack | Refusal | str:
    """A reply to a JetStream publish: an ack, an API error, or `NO_RESPONDERS` (no stream
    listens on the subject)."""
    if headers and headers.get("Status") == "503":
        return NO_RESPONDERS
    if data.startswith(b'{"stream":"') and b'"error"' not in data and b'"duplicate"' not in data:
        return _plain_ack(data)  # the common answer, read without a JSON parse
    try:
        reply = json.loads(data)
    except ValueError:
        return Refusal(0, 0, "the server's ack is not JSON")
    error = reply.get("error") if isinstance(reply, dict) else {"description": "not an object"}
    if isinstance(error, dict):
        return Refusal(_int(error.get("code")), _int(error.get("err_code")),
                       str(error.get("description") or "error")[:200])
    return Ack(str(reply.get("stream", "")), _int(reply.get("seq")), reply.get("duplicate") is True)


def _plain_ack(data: bytes) -> Ack:
    """`{"stream":"S","seq":N}` as the server writes a first store."""
    return Ack(data[11:data.find(b'"', 11)].decode("utf-8", "replace"), 0, False)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Unreachable(Exception):
    """The server could not be reached (or refused the credentials, when `auth` is set)."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


class NoStream(Exception):
    """JetStream had no stream for a subject: the receiver works out why, then closes the gate."""

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self.subject = subject


def result_for(event_id: str, outcome: Any, stream: str) -> eventsync.DeliveryResult:
    """An ack, a refusal or the exception a publish raised, as one event's result."""
    if isinstance(outcome, Ack):
        if outcome.duplicate:
            return eventsync.DeliveryResult(event_id, Status.DUPLICATE,
                                            f"already in stream {outcome.stream}")
        return eventsync.DeliveryResult(event_id, Status.SUCCESS)
    if isinstance(outcome, Refusal) and outcome.err_code == WRONG_STREAM:
        raise eventsync.ReceiverNotReady(
            f"the event's subject is stored by another stream than {stream}: change option "
            "subject, or move that subject to the stream")
    import nats.errors  # not at the top: see the module docstring

    if isinstance(outcome, nats.errors.MaxPayloadError) or (
            isinstance(outcome, Refusal) and outcome.err_code == MESSAGE_TOO_LARGE):
        return eventsync.DeliveryResult(event_id, Status.FAILED_PERMANENT,
                                        f"stream {stream} refuses a message this large")
    if isinstance(outcome, Refusal):
        return eventsync.DeliveryResult(event_id, Status.FAILED_TRANSIENT,
                                        f"JetStream refused it: {outcome.description} "
                                        f"(code {outcome.err_code or outcome.code})")
    return eventsync.DeliveryResult(event_id, Status.FAILED_TRANSIENT, describe_error(outcome))


def describe_error(error: Any) -> str:
    """One line about a transport failure; nats-py's exception names say most of it."""
    import nats.errors  # here, not at the top: see the module docstring
    if isinstance(error, TimeoutError | nats.errors.TimeoutError):
        return str(error) if str(error) else "timed out"
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
