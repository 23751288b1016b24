"""`eventsync sync archive`: events and their ledger history to JSON Lines, before any gc."""

from __future__ import annotations

from pathlib import Path

import click

from eventsync.cli.context import app, emit_json
from eventsync.cli.progress import progress
from eventsync.maintenance.archive import parse_before, write_archive


@click.command("archive")
@click.option("--to", "destination", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The archive file: FILE.jsonl, or FILE.jsonl.gz to compress.")
@click.option("--before", default=None,
              help="Only events appended before this: a date (2024-05-01), a datetime "
                   "(2024-05-01T12:00:00Z) or an age (30d).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def archive(destination: Path, before: str | None, as_json: bool) -> None:
    """Write events (with where and when each was delivered) to a JSON Lines archive.

    `eventsync sync migrate FILE` re-imports it byte for byte.
    """
    before_ms = parse_before(before) if before is not None else None
    with progress("archiving", as_json=as_json) as bar:
        report = write_archive(app().store, destination, before_ms=before_ms,
                               on_start=bar.start, progress=bar.update)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"archived {report.events} events to {report.path} ({report.bytes} bytes)")
