"""A plugin distribution as importlib.metadata finds one: a module and its `.dist-info`."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_plugin_dist(site: Path, module: str, source: str, version: str = "1.0") -> str:
    """`module.py` from `source` plus a `.dist-info` with an `eventsync` entry point, in
    `site`; returns the distribution's name (the module's, with dashes)."""
    dist = module.replace("_", "-")
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[eventsync]\n{module} = {module}\n",
                                           encoding="utf-8")
    return dist
