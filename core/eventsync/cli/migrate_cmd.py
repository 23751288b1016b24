"""`eventsync sync migrate`: legacy queue files and archives into the journal, via plugins."""

from __future__ import annotations

from pathlib import Path

import click

from eventsync.cli.context import app, emit_json
from eventsync.cli.progress import progress
from eventsync.errors import MigrationError
from eventsync.maintenance.migrate import (
    UNKNOWN_ROUTE,
    UNRECOVERABLE_NOTE,
    FileReport,
    MigrationReport,
    Migrator,
)


@click.command("migrate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--source", "sources", multiple=True,
              help="Only this migration source (built-in: offline-queue, jsonl); repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--cleanup", is_flag=True,
              help="Rename each fully migrated file to *.migrated (only after success).")
@click.option("--resolve", "resolve_id", default=None, metavar="ID",
              help="Settle a conflict (its id, or its event id) with --keep.")
@click.option("--keep", type=click.Choice(["journal", "source"]), default=None,
              help="With --resolve: which version of the event to keep.")
@click.option("--attach", "attach", default=None, metavar="unknown",
              help="Give the events migrated without a matching target (`unknown`) to --to.")
@click.option("--to", "attach_to", default=None, metavar="TARGET",
              help="With --attach: the target whose scope they belong to.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def migrate(paths: tuple[Path, ...], sources: tuple[str, ...], dry_run: bool, cleanup: bool,
            resolve_id: str | None, keep: str | None, attach: str | None,
            attach_to: str | None, as_json: bool) -> None:
    """Move events from legacy queue files (a spec-kitty home: queue.db and
    queues/queue-<digest>.db) and JSON Lines archives in PATHS (default: the eventsync home)
    into the journal, read-only, ids kept.

    A queue file's events are due only for the target(s) of its scope; a file no target
    matches goes to `unknown` (due nowhere) until `--attach unknown --to TARGET`. Re-running
    is idempotent. Exits 1 while anything is left behind: an open conflict, an unreadable file
    or damaged records.
    """
    ctx = app()
    if (resolve_id is None) != (keep is None):
        raise MigrationError("--resolve ID and --keep journal|source go together")
    if (attach is None) != (attach_to is None):
        raise MigrationError("--attach unknown and --to TARGET go together")
    migrator = Migrator(ctx.store, ctx.plugins, ctx.journal)
    if attach is not None and attach_to is not None:
        _attach(migrator, attach, attach_to, as_json)
        return
    if resolve_id is not None and keep is not None:
        result = migrator.resolve(resolve_id, keep)
        if as_json:
            emit_json(result)
        else:
            click.echo(f"conflict {result['id']} (event {result['event_id']}): kept the "
                       f"{keep} version; {result['open_conflicts']} conflicts still open")
        return
    files = migrator.discover(paths or (ctx.home,), sources)
    with progress("migrating files", as_json=as_json) as bar:
        bar.start(len(files))
        report = migrator.run(files, dry_run=dry_run, cleanup=cleanup, progress=bar.update)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report, cleanup)
    if not report.complete:
        click.echo("eventsync: migration incomplete: see the report above", err=True)
        click.get_current_context().exit(1)


def _attach(migrator: Migrator, route: str, target: str, as_json: bool) -> None:
    if route != UNKNOWN_ROUTE:
        raise MigrationError(f"--attach takes {UNKNOWN_ROUTE!r}, not {route!r}")
    result = migrator.attach(route, target)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"attached {result['attached']} event(s) from {route} to target "
                   f"{result['to']} (due for: {', '.join(result['targets'])})")


def _print_report(report: MigrationReport, cleanup: bool) -> None:
    if report.dry_run:
        click.echo("dry run: nothing is written; the plan:")
    if not report.files:
        click.echo("no legacy queue files or archives found")
    for file in report.files:
        _print_file(file, report.dry_run and cleanup)
    totals = report.to_dict()
    click.echo(f"total: {totals['imported']} imported, {totals['duplicate']} duplicate, "
               f"{totals['restored']} restored, {totals['conflict']} conflicting")
    for conflict in report.conflicts:
        click.echo(f"conflict {conflict['id']}: event {conflict['event_id']} in "
                   f"{conflict['source_file']} differs from the journal; resolve with "
                   f"`eventsync sync migrate --resolve {conflict['id']} --keep journal|source`")
    click.echo(f"note: {UNRECOVERABLE_NOTE}")


def _print_file(file: FileReport, would_clean: bool) -> None:
    click.echo(f"{file.path} [{file.source}] -> target {file.target}: {file.status.value}")
    if file.target == UNKNOWN_ROUTE:
        click.echo("    no registered target has this file's scope: its events are due nowhere"
                   " until `eventsync sync migrate --attach unknown --to TARGET`")
    if file.error:
        click.echo(f"    {file.error}")
    data = file.to_dict()
    if file.status.value not in ("skipped", "failed"):
        click.echo(f"    {data['records']} records: {data['imported']} imported, "
                   f"{data['duplicate']} duplicate, {data['restored']} restored, "
                   f"{data['resolved']} already resolved, {data['conflict']} conflicting, "
                   f"{len(file.plan.damaged)} damaged")
    for damaged in file.plan.damaged:
        click.echo(f"    damaged {damaged}")
    if file.renamed_to:
        click.echo(f"    renamed to {file.renamed_to}")
    elif would_clean and data["status"] == "planned" and not data["conflict"] \
            and not file.plan.damaged:
        click.echo(f"    would rename to {file.path.name}.migrated")
