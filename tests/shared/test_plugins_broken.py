"""A really installed distribution whose plugin module raises on import.

The distribution (`broken_plugin_dist/`) is copied to a temp dir and pip-installed once for this
module into a directory of its own that every command gets on PYTHONPATH (never into the shared
venv, where tests running beside these would meet its warning); every check runs the real
`eventsync` console script, exactly what a user with a broken plugin would run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DIST = "eventsync-broken-fixture"
SOURCE = Path(__file__).parent / "broken_plugin_dist"


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=240, check=False)


@pytest.fixture(scope="module")
def broken_dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install the broken distribution (pip, for real) into a directory of this module's own,
    which its commands get on PYTHONPATH: the shared venv never holds it, so no other test
    (on the other `make test` worker, say) meets its warning. Yields that directory."""
    source = tmp_path_factory.mktemp("build") / "broken_plugin_dist"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path_factory.mktemp("site")
    installed = pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                    "--target", str(target), str(source))
    assert installed.returncode == 0, installed.stderr
    yield target


@pytest.fixture
def run(broken_dist: Path, tmp_path: Path, eventsync_bin: str):
    env = {k: v for k, v in os.environ.items()
           if k not in ("EVENTSYNC_LOAD_PLUGINS", "EVENTSYNC_STRICT_PLUGINS")}
    env["EVENTSYNC_HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = str(broken_dist)

    def invoke(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([eventsync_bin, *args], capture_output=True, text=True,
                              env={**env, **extra_env}, timeout=60, check=False)

    return invoke


def test_listing_shows_the_error_and_warns_in_one_line(run):
    res = run("plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {row["name"]: row for row in json.loads(res.stdout)}
    assert "RuntimeError" in rows[DIST]["error"]
    assert "broken on purpose" in rows[DIST]["error"]
    assert rows[DIST]["version"] == "0.0.1"
    assert rows["eventsync-stub"]["error"] is None
    warnings = res.stderr.splitlines()
    assert len(warnings) == 1
    assert DIST in warnings[0] and "warning" in warnings[0]
    assert "Traceback" not in res.stderr


def test_the_human_listing_shows_it_too(run):
    res = run("plugins")
    assert res.returncode == 0
    line = next(line for line in res.stdout.splitlines() if line.startswith(DIST))
    assert "RuntimeError" in line


def test_other_commands_keep_working(run):
    appended = run("events", "append", "A", "WP1")
    assert appended.returncode == 0, appended.stderr
    listed = run("events", "list", "--json")
    assert [e["event_id"] for e in json.loads(listed.stdout)] == [appended.stdout.strip()]
    helped = run("--help")
    assert helped.returncode == 0 and "events" in helped.stdout
    assert "stub" in helped.stdout  # another plugin's command is still added
    assert helped.stderr.count(DIST) == 1
    stub_help = run("stub", "--help")
    assert stub_help.returncode == 0, stub_help.stderr


def test_the_command_that_uninstalls_it_is_reachable(run):
    res = run("plugins", "uninstall", "--help")
    assert res.returncode == 0 and "Uninstall" in res.stdout


def test_the_allowlist_skips_it_silently(run):
    res = run("plugins", "--json", EVENTSYNC_LOAD_PLUGINS="eventsync-stub")
    assert res.returncode == 0
    assert [row["name"] for row in json.loads(res.stdout)] == ["eventsync-stub"]
    assert res.stderr == ""


def test_the_allowlist_can_name_it(run):
    res = run("plugins", "--json", EVENTSYNC_LOAD_PLUGINS=DIST.replace("-", "_"))
    assert [row["name"] for row in json.loads(res.stdout)] == [DIST]
    assert DIST in res.stderr


def test_strict_mode_makes_it_an_error(run):
    res = run("plugins", "--json", EVENTSYNC_STRICT_PLUGINS="1")
    assert res.returncode != 0
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "error" in lines[0] and DIST in lines[0]
    assert "Traceback" not in res.stderr
