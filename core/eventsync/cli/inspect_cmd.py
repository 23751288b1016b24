"""`eventsync sync inspect EVENT_ID`: one event as stored, and every attempt to deliver it.

For each registered target: the ledger's outcome, each failed attempt before it (when, outcome,
detail, when it was due again) and, for an event that came from a legacy queue, where it came
from. Details are as the ledger keeps them: redacted and one line.
"""

from __future__ import annotations

import json
from typing import Any

import click

from eventsync.cli.context import AppContext, app, emit_json
from eventsync.cli.status_text import when_ms
from eventsync.delivery.attempts import AttemptLog
from eventsync.delivery.ledger import Ledger
from eventsync.delivery.ledger_report import LedgerReport
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import UnknownEvent
from eventsync.events import canonical_json
from eventsync.journal.lifecycle import JournalLifecycle, StoredRow
from eventsync.maintenance.migrate import provenance
from eventsync.receivers import Target


@click.command("inspect")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print the event and its history as JSON.")
def inspect(event_id: str, as_json: bool) -> None:
    """Show EVENT_ID as stored and, per target, every delivery attempt."""
    report = build_inspection(app(read_only=True), event_id)
    if as_json:
        emit_json(report)
    else:
        print_inspection(report)


def build_inspection(ctx: AppContext, event_id: str) -> dict[str, Any]:
    row = _find(ctx, event_id)
    ledger = Ledger(ctx.store)
    rows = LedgerReport(ctx.store)
    attempts = AttemptLog(ctx.store)
    return {
        "event_id": row.event_id, "seq": row.seq, "removed_by_gc": row.body is None,
        "event": json.loads(row.body) if row.body is not None else None,
        "migrated_from": provenance(ctx.store, row.event_id),
        "targets": [_target_history(t, row.seq, ledger, rows, attempts)
                    for t in TargetRegistry(ctx.store).list()],
    }


def _find(ctx: AppContext, event_id: str) -> StoredRow:
    """The journal row for `event_id` in any case (ULIDs are stored upper, UUIDs lower)."""
    wanted = event_id.strip()
    found = JournalLifecycle(ctx.store).lookup([wanted, wanted.upper(), wanted.lower()])
    for candidate in (wanted, wanted.upper(), wanted.lower()):
        if candidate in found:
            return found[candidate]
    hint = ("; retention is off, so delivered events are not kept"
            if not ctx.config.retention else "")
    raise UnknownEvent(f"no event {wanted!r} in the journal (eventsync events list shows the "
                       f"newest){hint}")


def _target_history(target: Target, seq: int, ledger: Ledger, rows: LedgerReport,
                    attempts: AttemptLog) -> dict[str, Any]:
    assert target.id is not None
    row = rows.event_row(target.id, seq)
    base = {"name": target.name, "type": target.type}
    if row is None:
        state = "pending" if seq > ledger.cursor(target.id) else "not selected"
        return {**base, "state": state, "attempts": 0, "delivered_at": None,
                "next_attempt_at": None, "history": []}
    history = [a.to_dict() for a in attempts.for_event(target.id, seq)
               if a.attempt <= row["attempts"]]
    if not history or history[-1]["attempt"] != row["attempts"]:
        history.append({"attempt": row["attempts"], "at": row["last_attempt_at"],
                        "outcome": row["state"], "detail": row["detail"],
                        "next_attempt_at": row["next_attempt_at"]})
    return {**base, "state": row["state"], "attempts": row["attempts"],
            "delivered_at": row["delivered_at"], "next_attempt_at": row["next_attempt_at"],
            "history": history}


def print_inspection(report: dict[str, Any]) -> None:
    click.echo(f"event {report['event_id']} (journal seq {report['seq']})")
    if report["event"] is None:
        click.echo("  payload removed by gc; the ledger history below is kept")
    else:
        click.echo(f"  {canonical_json(report['event'])}")
    for origin in report["migrated_from"]:
        click.echo(f"migrated from {origin['source_file']} [{origin['source']}] on "
                   f"{when_ms(origin['imported_at'])}: {origin['outcome']}, for target "
                   f"{origin['target']}")
    for target in report["targets"]:
        click.echo(f"target {target['name']} [{target['type']}]: {_summary(target)}")
        for attempt in target["history"]:
            line = (f"  #{attempt['attempt']} {when_ms(attempt['at'])} {attempt['outcome']}"
                    + (f": {attempt['detail']}" if attempt["detail"] else ""))
            if attempt["next_attempt_at"] is not None:
                line += f" (next attempt {when_ms(attempt['next_attempt_at'])})"
            click.echo(line)


def _summary(target: dict[str, Any]) -> str:
    state, count = target["state"], target["attempts"]
    if state in ("pending", "not selected"):
        return ("not attempted yet" if state == "pending"
                else "never selected (superseded, or outside the target's scope)")
    tries = f"{count} attempt{'s' if count != 1 else ''}"
    if target["delivered_at"] is not None:
        return f"{state} after {tries}"
    if target["next_attempt_at"] is not None:
        return f"{state} after {tries}; next attempt {when_ms(target['next_attempt_at'])}"
    return f"{state} after {tries}; not retried until `eventsync sync retry --target " \
           f"{target['name']} --failed`"
