"""`eventsync events`: append, import and list journal events."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import click

from eventsync.cli.context import app, emit_json, emit_table
from eventsync.cli.progress import progress
from eventsync.errors import InvalidEvent
from eventsync.events import FAMILIES

PROGRESS_BYTES = 1 << 16


@click.group()
def events() -> None:
    """Append, import and list events in the journal."""


@events.command("append")
@click.argument("event_type")
@click.argument("aggregate_id")
@click.option("--payload", default="{}", help="The payload, a JSON object.")
@click.option("--family", type=click.Choice(FAMILIES), default="teamspace", show_default=True)
@click.option("--aggregate-type", default="", help="What kind of thing AGGREGATE_ID names.")
@click.option("--event-id", default=None, help="A ULID to use instead of a new one.")
def append_cmd(event_type: str, aggregate_id: str, payload: str, family: str,
               aggregate_type: str, event_id: str | None) -> None:
    """Append one event and print its id."""
    data: dict[str, Any] = {
        "event_type": event_type, "aggregate_id": aggregate_id,
        "payload": _parse_payload(payload), "family": family, "aggregate_type": aggregate_type,
    }
    if event_id is not None:
        data["event_id"] = event_id
    event = app().ingest.append(data)
    click.echo(event.event_id if event is not None else "dropped (opt-out: local event)")


@events.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print {appended, duplicates} as JSON.")
def import_cmd(source: str, as_json: bool) -> None:
    """Import events from a JSON Lines file (one event object per line; - for stdin).

    Each line is one JSON object. Required keys: event_type, aggregate_id. Optional keys:
    event_id (a ULID or UUID; generated when absent), aggregate_type, payload (an object;
    default {}), timestamp (ISO-8601 with a UTC offset, Z or +00:00; set when absent), family
    (teamspace or local) and producer ({"user", "team", "project"}). Every other top-level
    field of a producer's envelope (spec-kitty's node_id, lamport_clock, project_uuid, ...)
    is kept verbatim. Blank lines are skipped.

    \b
    One line, for example:
      {"event_type": "WPStatusChanged", "aggregate_id": "WP01", "payload": {"to": "doing"}}

    Every line is validated first: a bad line is reported with its number and nothing of the
    file is written. A line without an event_id gets one derived from the input, so running
    the same import again (say, after it was interrupted) appends only what is missing and
    says how many events were already there. examples/events.jsonl in the source tree has more.
    """
    with _open_source(source) as stream, progress("reading", as_json=as_json) as bar:
        bar.start(_size_of(stream))
        items, raw = _read_jsonl(stream, bar.update)
    report = app().ingest.import_many(items, raw)
    if as_json:
        emit_json({"appended": report.appended, "duplicates": report.duplicates})
    else:
        click.echo(str(report.appended))
        if report.duplicates:
            click.echo(f"eventsync: {report.duplicates} of {len(items)} events were already in "
                       "the journal and were not appended again", err=True)
    if report.dropped:
        click.echo(f"opt-out: {report.dropped} local events dropped", err=True)


@events.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the events as a JSON list.")
def list_cmd(limit: int, as_json: bool) -> None:
    """List the newest events, oldest first."""
    rows = app(read_only=True).journal.tail(limit)
    if as_json:
        emit_json([row.event.to_dict() for row in rows])
        return
    emit_table(
        ["seq", "event_id", "event_type", "aggregate_id", "timestamp"],
        [[r.seq, r.event.event_id, r.event.event_type, r.event.aggregate_id, r.event.timestamp]
         for r in rows],
    )


def _parse_payload(text: str) -> dict[str, Any]:
    try:
        value = _loads(text)
    except ValueError as exc:
        raise InvalidEvent(f"--payload is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"--payload must be a JSON object, not {type(value).__name__}")
    return value


def _open_source(source: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """Bytes, not text: a line that is not UTF-8 is then reported by number, not as a crash.

    A file that cannot be opened is a one-line error rather than click's multi-line usage text.
    Standard input is left open for the caller's process.
    """
    if source == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return open(source, "rb")
    except OSError as exc:
        raise click.FileError(source, hint=exc.strerror or str(exc)) from None


def _size_of(stream: BinaryIO) -> int:
    """The file's size for the progress bar; 0 (no bar) for a pipe or a terminal."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _read_jsonl(source: BinaryIO, progress: Callable[[int], None] | None = None
                ) -> tuple[list[tuple[int, Any]], list[bytes]]:
    """Parse every line before anything is written; blank lines are skipped. Returns the
    numbered items and each one's raw line (what import ids are derived from)."""
    items = []
    lines = []
    unreported = 0
    for number, raw in enumerate(source, start=1):
        unreported += len(raw)
        if progress is not None and unreported >= PROGRESS_BYTES:
            progress(unreported)
            unreported = 0
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent(f"line {number}: not valid UTF-8; nothing was written") from None
        if not line.strip():
            continue
        try:
            items.append((number, _loads(line)))
        except ValueError as exc:
            raise InvalidEvent(
                f"line {number}: not valid JSON ({exc}); nothing was written") from None
        lines.append(raw)
    if progress is not None and unreported:
        progress(unreported)
    return items, lines


def _loads(text: str) -> Any:
    """`json.loads` whose every refusal is a ValueError saying why in a few words.

    The stdlib parser raises `RecursionError` for deep nesting and a plain `ValueError` for an
    integer of more than 4,300 digits, neither of them a `JSONDecodeError`.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:
        raise ValueError(str(exc).split(":")[0]) from None
