"""CLI fixtures: a plugin distribution installed for one test."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.plugins import write_plugin_dist


@pytest.fixture
def fake_plugin(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Callable[[str, str], str]:
    """Install a plugin distribution for this test only: a module plus a `.dist-info` with an
    `eventsync` entry point, on `sys.path`, which is exactly how importlib.metadata finds an
    installed distribution. Returns the distribution's name. Every installed plugin loads: the
    `home` fixture's allowlist of this repository's plugins is removed."""
    monkeypatch.delenv("EVENTSYNC_LOAD_PLUGINS", raising=False)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(module: str, source: str) -> str:
        monkeypatch.delitem(sys.modules, module, raising=False)
        return write_plugin_dist(site, module, source, version="0.0.1")

    return install

