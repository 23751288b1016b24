"""`eventsync sync`: targets, draining, status and the operator's lifecycle commands."""

from __future__ import annotations

import click

from eventsync.cli.lazy import LazyGroup

SUBCOMMANDS = {
    "targets": "eventsync.cli.targets_cmd:targets",
    "now": "eventsync.cli.drain_cmd:now",
    "retry": "eventsync.cli.drain_cmd:retry",
    "status": "eventsync.cli.status_cmd:status",
    "inspect": "eventsync.cli.inspect_cmd:inspect",
    "daemon": "eventsync.cli.daemon_cmd:daemon",
    "config": "eventsync.cli.config_cmd:config",
    "gc": "eventsync.cli.gc_cmd:gc",
    "archive": "eventsync.cli.archive_cmd:archive",
    "migrate": "eventsync.cli.migrate_cmd:migrate",
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS)
def sync() -> None:
    """Deliver events to targets and inspect or manage what happened."""
