"""`eventsync sync`: targets, draining, status and the operator's lifecycle commands."""

from __future__ import annotations

import click


@click.group()
def sync() -> None:
    """Deliver events to targets and inspect or manage what happened."""
