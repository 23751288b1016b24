"""Fixtures for the maintenance tests: the gc/archive/migrate commands, a journal on `store`."""

from __future__ import annotations

import pytest

from eventsync.cli.sync import sync
from eventsync.journal.journal import Journal
from eventsync.store import Store

LIFECYCLE_COMMANDS = {
    "gc": "eventsync.cli.gc_cmd:gc",
    "archive": "eventsync.cli.archive_cmd:archive",
    "migrate": "eventsync.cli.migrate_cmd:migrate",
}


@pytest.fixture(autouse=True)
def lifecycle_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attach `sync gc/archive/migrate` exactly as the SUBCOMMANDS entries will."""
    for name, spec in LIFECYCLE_COMMANDS.items():
        monkeypatch.setitem(sync.lazy, name, spec)


@pytest.fixture
def journal(store: Store) -> Journal:
    return Journal(store)
