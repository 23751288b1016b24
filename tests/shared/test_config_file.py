"""config.toml on disk: malformed files refuse, bad values name their key, unknown keys survive."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from shared_helpers import add_target

from eventsync import config as config_module
from eventsync.config import SETTINGS, EventSyncConfig, load_config
from eventsync.errors import ConfigError

MALFORMED = '[sync]\nactive_target = "a\n'

# Every command that reads config.toml, and must refuse rather than fall back to defaults.
NEEDS_CONFIG = [
    ("sync", "now"),
    ("sync", "now", "--all"),
    ("sync", "status"),
    ("sync", "status", "--check", "--json"),
    ("sync", "targets", "list"),
    ("sync", "config", "show"),
    ("sync", "config", "set", "retention.enabled", "false"),
    ("sync", "config", "preset", "opt-out"),
    ("sync", "retry", "--target", "a"),
    ("events", "append", "T", "A1"),
    ("events", "import", "-"),
]


@pytest.mark.parametrize("args", NEEDS_CONFIG, ids=" ".join)
def test_malformed_toml_refuses_every_command_that_needs_config(cli, home, args):
    add_target(cli, "a", "http://127.0.0.1:9")
    (home / "config.toml").write_text(MALFORMED)

    result = cli(*args, stdin='{"event_type": "T", "aggregate_id": "A1"}\n')

    assert result.code != 0
    assert result.err.splitlines() == [
        f"eventsync: error: {home / 'config.toml'}: malformed TOML: "
        "Illegal character '\\n' (at line 2, column 19)"]
    assert result.out == ""


def test_malformed_toml_writes_nothing(cli, home):
    home.mkdir()
    (home / "config.toml").write_text(MALFORMED)

    cli("events", "append", "T", "A1")
    cli("sync", "config", "set", "retention.enabled", "false")

    assert (home / "config.toml").read_text() == MALFORMED
    assert cli("events", "list", "--json").json() == []


@pytest.mark.parametrize(("text", "key", "why"), [
    ('[retention]\nenabled = "maybe"\n', "retention.enabled", "expected true or false"),
    ("[delivery]\nbatch_size = 0\n", "delivery.batch_size", "at least 1"),
    ('[delivery]\nbatch_size = "ten"\n', "delivery.batch_size", "at least 1"),
    ("[delivery]\nbatch_size = 2.5\n", "delivery.batch_size", "at least 1"),
    ("[delivery]\nmode = 3\n", "delivery.mode", "receiver type name"),
    ("[retry]\nbase_seconds = -1\n", "retry.base_seconds", "greater than 0"),
    ("[retry]\nmax_seconds = inf\n", "retry.max_seconds", "greater than 0"),
    ("[queue]\nmax_size = true\n", "queue.max_size", "at least 1"),
    ("[coalesce]\ntypes = [1, 2]\n", "coalesce.types", "list of event types"),
    ("[sync]\nactive_target = 5\n", "sync.active_target", "target name"),
    ('preset = "sometimes"\n', "preset", "unknown preset"),
])
def test_a_wrong_value_names_its_key(cli, home, text, key, why):
    home.mkdir()
    (home / "config.toml").write_text(text)

    result = cli("sync", "status")

    assert result.code != 0
    assert len(result.err.splitlines()) == 1
    assert f"{home / 'config.toml'}: {key} = " in result.err
    assert why in result.err


@pytest.mark.parametrize(("key", "value"), [
    ("delivery.batch_size", "0"), ("retention.enabled", "perhaps"), ("delivery.mode", "a b"),
    ("work.max_workers", "many"), ("colour", "blue"),
])
def test_config_set_refuses_a_bad_value_and_writes_nothing(cli, home, key, value):
    assert cli("sync", "config", "set", "delivery.mode", "stub").code == 0
    before = (home / "config.toml").read_bytes()

    result = cli("sync", "config", "set", key, value)

    assert result.code != 0
    assert key in result.err
    assert (home / "config.toml").read_bytes() == before


def test_unknown_keys_are_reported_and_survive_every_write(cli, home, status):
    home.mkdir()
    (home / "config.toml").write_text(
        'colour = "blue"\n[delivery]\nmode = "auto"\nspeed = 11\n[plugins.echo]\nloud = true\n')

    report = status()
    shown = cli("sync", "config", "show")
    cli("sync", "config", "set", "delivery.batch_size", "50")
    cli("sync", "config", "preset", "local-retention")
    add_target(cli, "a", "http://127.0.0.1:9", "--activate")

    assert [p["message"] for p in report["authority"]["problems"]] == [
        "no active target is set",
        "config.toml has unknown key 'colour' (kept, ignored)",
        "config.toml has unknown key 'delivery.speed' (kept, ignored)",
        "config.toml has unknown key 'plugins.echo.loud' (kept, ignored)"]
    assert shown.code == 0
    assert "warning: unknown key delivery.speed in config.toml (kept, ignored)" in shown.err
    data = tomllib.loads((home / "config.toml").read_text())
    assert data["colour"] == "blue"
    assert data["delivery"]["speed"] == 11
    assert data["plugins"] == {"echo": {"loud": True}}
    assert data["delivery"]["batch_size"] == 50
    assert data["sync"]["active_target"] == "a"
    assert load_config(home).unknown_keys == ("colour", "delivery.speed", "plugins.echo.loud")


def test_config_file_is_0600_even_when_it_was_readable_by_others(cli, home):
    home.mkdir()
    (home / "config.toml").write_text("[delivery]\nbatch_size = 10\n")
    os.chmod(home / "config.toml", 0o644)

    assert cli("sync", "config", "set", "delivery.batch_size", "20").code == 0

    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600


def test_writes_are_atomic_and_leave_no_temporary_files(cli, home):
    for value in ("10", "20", "30"):
        assert cli("sync", "config", "set", "delivery.batch_size", value).code == 0
    assert cli("sync", "config", "preset", "teamspace").code == 0

    assert sorted(p.name for p in home.iterdir() if "config" in p.name) == ["config.toml"]
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_whole(cli, home, monkeypatch):
    assert cli("sync", "config", "set", "delivery.batch_size", "10").code == 0
    before = (home / "config.toml").read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_module.os, "replace", crash)
    with pytest.raises(ConfigError, match="No space left on device"):
        config_module.set_value(home, "delivery.batch_size", "20")

    assert (home / "config.toml").read_bytes() == before
    assert sorted(p.name for p in home.iterdir() if "config" in p.name) == ["config.toml"]


def test_show_lists_every_known_key_with_its_default(cli):
    shown = cli("sync", "config", "show")
    as_json = cli("sync", "config", "show", "--json").json()

    keys = [line.split(" = ")[0] for line in shown.out.splitlines()]
    assert keys == [s.key for s in SETTINGS]
    defaults = EventSyncConfig().to_dict()
    assert as_json == defaults
    assert "delivery.mode = auto" in shown.out
    assert "sync.active_target = -" in shown.out


def test_set_then_remove_a_key_restores_the_default(cli, home):
    assert cli("sync", "config", "set", "retry.base_seconds", "2.5").out == \
        "retry.base_seconds = 2.5\n"
    assert load_config(home).retry_base_seconds == 2.5

    assert cli("sync", "config", "set", "retry.base_seconds", "").out == \
        "retry.base_seconds removed\n"
    assert load_config(home).retry_base_seconds == 1.0


def test_shown_values_can_be_set_back(cli, home):
    cli("sync", "config", "set", "coalesce.types", "WPStatusChanged, Heartbeat")
    cli("sync", "config", "set", "retention.enabled", "off")
    lines = dict(line.split(" = ", 1) for line in cli("sync", "config", "show").out.splitlines())

    for key in ("coalesce.types", "retention.enabled"):
        assert cli("sync", "config", "set", key, lines[key]).code == 0
    cfg = load_config(home)
    assert cfg.coalesce_types == ("WPStatusChanged", "Heartbeat")
    assert cfg.retention is False


def test_read_raw_reports_an_unreadable_file(home):
    home.mkdir()
    (home / "config.toml").write_bytes(b"\xff\xfe not utf-8")

    with pytest.raises(ConfigError, match=r"cannot read .*config\.toml"):
        load_config(home)


def test_the_guide_lists_every_key_with_its_default():
    """docs/configuration.md is what a newcomer reads; it must not drift from SETTINGS."""
    guide = Path(__file__).parents[2] / "docs" / "configuration.md"
    rows = {}
    for line in guide.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    defaults = EventSyncConfig().to_dict()

    for setting in SETTINGS:
        default = defaults[setting.field]
        documented = {None: "unset", (): "empty"}.get(
            tuple(default) if isinstance(default, list) else default)
        if documented is None:
            documented = f"`{str(default).lower() if isinstance(default, bool) else default}`"
        assert rows.get(setting.key) == documented, setting.key
