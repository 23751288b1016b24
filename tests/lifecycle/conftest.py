"""Fixtures for lifecycle tests: the gc/archive/migrate commands, a store, targets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eventsync.cli.sync import sync
from eventsync.home import DB_NAME
from eventsync.journal import Journal
from eventsync.receivers import Target
from eventsync.store import Store
from eventsync.targets import TargetRegistry

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
def store(home: Path) -> Iterator[Store]:
    home.mkdir(parents=True, exist_ok=True)
    with Store(home / DB_NAME) as opened:
        yield opened


@pytest.fixture
def journal(store: Store) -> Journal:
    return Journal(store)


@pytest.fixture
def add_target(store: Store) -> Callable[..., Target]:
    def add(name: str, url: str, **options: str) -> Target:
        return TargetRegistry(store).add(name, "stub", url, options)

    return add
