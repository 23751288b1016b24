"""A plugin that fails to load is reported on every command, not only those that use plugins,
and `--help` stays fast (no plugin is loaded for it)."""

from __future__ import annotations

import pytest

BROKEN = """
    raise RuntimeError("broken on purpose")
"""
WARNING = ("eventsync: warning: plugin eventsync-cli-broken failed to load: RuntimeError: "
           "broken on purpose\n")


@pytest.mark.parametrize("args", [
    ("events", "list"),
    ("events", "append", "Step", "A1"),
    ("events", "list", "--json"),
    ("sync", "targets", "list"),
    ("sync", "status"),
    ("plugins",),
])
def test_every_command_warns_once(cli, fake_plugin, args):
    fake_plugin("eventsync_cli_broken", BROKEN)
    res = cli(*args)
    assert res.code == 0
    assert res.err == WARNING


def test_the_warning_goes_to_stderr_and_leaves_the_output_alone(cli, fake_plugin):
    fake_plugin("eventsync_cli_broken", BROKEN)
    appended = cli("events", "append", "Step", "A1")
    listed = cli("events", "list", "--json")
    assert [e["event_id"] for e in listed.json()] == [appended.out.strip()]


def test_help_loads_no_plugin(cli, fake_plugin):
    fake_plugin("eventsync_cli_broken", BROKEN)
    res = cli("events", "list", "--help")
    assert (res.code, res.err) == (0, "")
    assert "Usage: eventsync events list" in res.out
