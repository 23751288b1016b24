"""A plugin cannot take the CLI down (issue 15.7): one that calls `sys.exit()` or raises any
BaseException but KeyboardInterrupt at import is reported like an import error while every
command (`eventsync plugins` included) keeps working; two plugins claiming one receiver type are
both marked, and the message says to uninstall one of the two. Real `eventsync` processes, with
the plugins installed as distributions (a module and its `.dist-info`) on PYTHONPATH."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.plugins import write_plugin_dist

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def run(eventsync_bin: str, home: Path, site: Path) -> Run:
    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**{k: v for k, v in os.environ.items() if k != "EVENTSYNC_LOAD_PLUGINS"},
               "EVENTSYNC_HOME": str(home), "PYTHONPATH": str(site)}  # every plugin loaded
        return subprocess.run([eventsync_bin, *args], capture_output=True, text=True,
                              timeout=120, env=env)

    return invoke


@pytest.mark.parametrize(("statement", "shown"), [
    ("import sys; sys.exit()", "SystemExit"),
    ("import sys; sys.exit(3)", "SystemExit: 3"),
    ("raise GeneratorExit('bye')", "GeneratorExit: bye"),
    ("class Mine(BaseException): pass\nraise Mine('odd')", "Mine: odd"),
])
def test_a_plugin_exiting_at_import_is_isolated_like_an_import_error(
        run: Run, site: Path, statement: str, shown: str) -> None:
    dist = write_plugin_dist(site, "eventsync_quitter", statement)
    listed = run("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["name"] == dist]
    assert row["error"] == f"failed to load: {shown}"
    appended = run("events", "append", "T", "A1")
    assert appended.returncode == 0, appended.stderr
    assert len(appended.stdout.split()) == 1, "the event id"
    warning = [line for line in appended.stderr.splitlines() if dist in line]
    assert warning == [f"eventsync: warning: plugin {dist} failed to load: {shown}"]
    assert json.loads(run("events", "list", "--json").stdout)[0]["aggregate_id"] == "A1"


RECEIVER = """
import eventsync

class Echo(eventsync.DeliveryReceiver):
    type_name = "echo"

    def deliver(self, events):
        return [eventsync.DeliveryResult(e.event_id, "success") for e in events]

@eventsync.hookimpl
def register_receivers(register):
    register(Echo)
"""


def test_two_plugins_claiming_one_type_are_both_marked_and_told_to_uninstall_one(
        run: Run, site: Path) -> None:
    first = write_plugin_dist(site, "eventsync_echo_a", RECEIVER)
    second = write_plugin_dist(site, "eventsync_echo_b", RECEIVER)
    listed = run("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    expected = {(f"receiver 'echo' is registered by both {a} and {b}; uninstall one of the "
                 f"two (eventsync plugins uninstall {a}, or {b})")
                for a, b in ((first, second), (second, first))}
    assert rows[first]["error"] == rows[second]["error"], "both rows are marked"
    assert rows[first]["error"] in expected
    warnings = [line for line in listed.stderr.splitlines() if "echo" in line]
    assert len(warnings) == 1, "warned once"
    assert warnings[0].endswith(rows[first]["error"])
    assert " install eventsync-" not in listed.stderr.replace("uninstall", "")
    added = run("sync", "targets", "add", "e", "--type", "echo", "--url",
                "http://127.0.0.1:9")
    assert added.returncode == 1
    assert "uninstall one of the two" in added.stderr
    assert "plugins install" not in added.stderr.replace("plugins uninstall", "")
