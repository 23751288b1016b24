"""A command that fails validation writes nothing (issue 15.10): `sync now` with no target used
to create the database and its tables before finding out there was nothing to drain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability_helpers import one_line_error

from eventsync.home import DB_NAME


def test_sync_now_without_any_target_creates_no_database(cli: Callable[..., Any],
                                                         home: Path) -> None:
    result = cli("sync", "now")
    assert result.code == 1
    assert "no active target is set" in one_line_error(result.err)
    assert cli("sync", "now", "--json").code == 1
    every = cli("sync", "now", "--all", "--json")
    assert (every.code, every.json()) == (0, [])
    assert not (home / DB_NAME).exists()
    assert not home.exists() or not any(home.iterdir()), "not one file in the home"
