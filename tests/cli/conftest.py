"""CLI fixtures: a plugin distribution installed for one test."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


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
        dist = module.replace("_", "-")
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = site / f"{module}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n",
                                       encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[eventsync]\n{module} = {module}\n",
                                               encoding="utf-8")
        monkeypatch.delitem(sys.modules, module, raising=False)
        return dist

    return install

