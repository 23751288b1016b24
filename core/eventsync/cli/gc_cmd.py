"""`eventsync sync gc`: apply a retention policy, explicitly, keeping the ledger as tombstones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from eventsync.cli.context import app, emit_json
from eventsync.cli.progress import progress
from eventsync.errors import ConfigError
from eventsync.maintenance.gc import DEFAULT_POLICY, GcReport, parse_duration, run_gc


class Duration(click.ParamType):
    """`30d`, `12h`, `90m`: a bad value is click's one-line usage error."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


@click.command("gc")
@click.option("--policy", default=DEFAULT_POLICY, show_default=True,
              help="Retention policy (built-in: keep-all, max-age, max-events, "
                   "delivered-everywhere; see `eventsync plugins --all`).")
@click.option("--older-than", type=Duration(), default=None,
              help="Age for max-age / delivered-everywhere, e.g. 30d, 12h, 90m.")
@click.option("--max-events", type=click.IntRange(min=0), default=None,
              help="How many of the newest events max-events keeps.")
@click.option("--force", is_flag=True,
              help="Also delete events some registered target has not had yet.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def gc(policy: str, older_than: timedelta | None, max_events: int | None, force: bool,
       dry_run: bool, as_json: bool) -> None:
    """Delete journal payloads a retention policy selects; never automatic.

    Ledger history stays (what was delivered where, and when): each deleted event keeps its
    journal row as a tombstone. Events not yet delivered to every registered target are
    protected unless --force.
    """
    ctx = app(read_only=dry_run)
    with progress("deleting payloads", as_json=as_json) as bar:
        report = run_gc(ctx.store, ctx.plugins, policy, older_than=older_than,
                        max_events=max_events, force=force, dry_run=dry_run,
                        on_start=bar.start, progress=bar.update)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)


def _print_report(report: GcReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    freed = report.bytes_freed
    count = report.selected - report.protected if report.dry_run else report.deleted
    click.echo(f"gc (policy {report.policy}): {verb} the payloads of {count} events "
               f"({freed} bytes); ledger history kept as tombstones")
    if report.protected:
        click.echo(f"protected {report.protected} events not yet delivered to every registered "
                   "target (--force deletes them anyway)")
    if report.dry_run:
        click.echo("dry run: nothing was changed")
