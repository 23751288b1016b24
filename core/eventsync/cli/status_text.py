"""The human form of `sync status`: a few summary lines, one table row per target, then why
each target is behind and every problem with its fix. Scripts read `--json` instead."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from eventsync.cli.context import emit_table

TARGET_COLUMNS = ["", "name", "type", "url", "delivered", "duplicate", "pending", "retrying",
                  "terminal-failed"]


def print_status(report: dict[str, Any]) -> None:
    _print_journal(report)
    config = report["config"]
    click.echo(f"config: preset {config['preset'] or '-'}, retention "
               f"{'on' if config['retention'] else 'off'}, delivery {config['delivery']}")
    queue = report["queue"]
    if queue["path"] is not None:
        evicted = (f", {queue['evicted']} teamspace events evicted so far"
                   if queue["evicted"] is not None else "")
        click.echo(f"offline queue: {queue['events']} events waiting, oldest "
                   f"{age(queue['oldest_age_seconds'])}{evicted} ({queue['path']})")
    migration = report["migration"]
    if migration["files"] or migration["conflicts"]:
        click.echo(f"migration: {migration['files']} legacy files migrated, "
                   f"{migration['conflicts']} conflicts open")
    authority = report["authority"]
    click.echo(f"active target: {authority['target'] or '-'}"
               + (f" (from {authority['source']})" if authority["source"] else ""))
    targets = report["targets"]
    if targets:
        emit_table(TARGET_COLUMNS, [_row(t) for t in targets])
    for target in targets:
        for line in target_notes(target):
            click.echo(f"{target['name']}: {line}")
    for problem in authority["problems"]:
        click.echo(f"problem: {problem['message']} (fix: {problem['fix']})")


def target_notes(target: dict[str, Any]) -> list[str]:
    """Why a target is behind, in the order an operator reads it: error, outage, reasons."""
    notes = []
    if target["last_error"]:
        when = f" ({when_ms(target['last_error_at'])})" if target.get("last_error_at") else ""
        notes.append(f"last error{when}: {target['last_error']}")
    if target["unreachable_since"] is not None:
        notes.append(f"failing since {when_ms(target['unreachable_since'])}")
    if target["retry_reasons"]:
        reasons = "; ".join(f"{r['events']} × {r['reason']}" for r in target["retry_reasons"])
        notes.append(f"retrying because: {reasons}")
    if target["advisory"]:
        notes.append(f"advisory: {target['advisory']}")
    return notes


def _print_journal(report: dict[str, Any]) -> None:
    journal = report["journal"]
    click.echo(f"journal: {journal['events']} events, {journal['bytes']} bytes of payload, "
               f"{journal['disk_bytes']} bytes on disk")
    gc = journal["gc"]
    if gc["events"]:
        click.echo(f"  gc ({gc['policy']}) would free {gc['events']} events, {gc['bytes']} bytes")
    audit = report["audit"]
    if audit["refused_discards"] or audit["dropped_local"]:
        click.echo(f"opt-out: {audit['dropped_local']} local events dropped, "
                   f"{audit['refused_discards']} teamspace events kept (discard refused)")


def _row(t: dict[str, Any]) -> list[Any]:
    plugin_missing = t["problem"] is not None
    return ["*" if t["active"] else "", t["name"],
            t["type"] + (" (no plugin)" if plugin_missing else ""), t["url"], t["delivered"],
            t["duplicate"], t["pending"], t["retrying"], t["terminal_failed"]]


def when_ms(value: int | None) -> str:
    """An epoch-ms instant as ISO-8601 UTC to the second, the form every eventsync time takes."""
    if value is None:
        return "-"
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(seconds: float | None) -> str:
    """`42s ago`, `5m ago`, `3h ago`, `2d ago`: enough to tell minutes from days."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"
