"""Real stub receivers on loopback, the CLI with a gated receiver type, and `sync status --json`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from shared_helpers import plugins_with_gated


@pytest.fixture
def gated_cli(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The `cli` fixture with the `gated` receiver type installed in-process."""
    monkeypatch.setattr("eventsync.cli.context.load_plugins", plugins_with_gated)
    return cli


@pytest.fixture
def status(cli: Callable[..., Any]) -> Callable[[], dict[str, Any]]:
    """`eventsync sync status --json`, parsed (it exits 0 without --check, problems or not)."""

    def read() -> dict[str, Any]:
        result = cli("sync", "status", "--json")
        assert result.code == 0, result.err
        return result.json()

    return read
