"""What every command shares: the home, one Store, the plugins — each opened only when used."""

from __future__ import annotations

import functools
import json
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from eventsync.config import EventSyncConfig, load_config
from eventsync.home import DB_NAME, resolve_home
from eventsync.journal.ingest import Ingest
from eventsync.journal.journal import Journal
from eventsync.plugins import Plugins, load_plugins
from eventsync.queue.offline_queue import enqueue_for_target
from eventsync.store import Store


class AppContext:
    """Lazily opened resources for one CLI invocation, closed when it ends."""

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self.read_only = False
        self._store: Store | None = None

    @cached_property
    def home(self) -> Path:
        return resolve_home(create=not self.read_only)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.home / DB_NAME, read_only=self.read_only)
        return self._store

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.store)

    @cached_property
    def config(self) -> EventSyncConfig:
        return load_config(self.home)

    @cached_property
    def ingest(self) -> Ingest:
        """Ingest with the configured policy; retention off needs the one active target."""
        target = None
        if not self.config.retention and self.config.delivers:
            from eventsync.delivery.authority import resolve_authority
            from eventsync.delivery.targets import TargetRegistry

            target = resolve_authority(TargetRegistry(self.store), self.config).target
        spill = functools.partial(enqueue_for_target, target, self.home, self.config)
        return Ingest(self.journal, self.config, spill=spill)

    @cached_property
    def plugins(self) -> Plugins:
        return load_plugins()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def app(ctx: click.Context | None = None, *, read_only: bool = False) -> AppContext:
    """The AppContext of the running command.

    A command that only looks says `read_only=True` before it touches the store: it then
    opens the database without writing anything, so it still works on a read-only home or a
    full disk, and never creates a home or a database just to report that they are empty.
    """
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = AppContext()
        root.call_on_close(root.obj.close)
    if read_only and root.obj._store is None:
        root.obj.read_only = True
    return root.obj


def emit_json(value: Any) -> None:
    """The one JSON style of every `--json`: two-space indent, UTF-8, newline-terminated."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def emit_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table for humans; scripts use `--json`."""
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in r]
                                                    for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                       strict=True)).rstrip())


def is_terminal() -> bool:
    return sys.stdout.isatty()
