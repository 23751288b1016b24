"""The plugin manager in-process: allowlist, collisions, misspelled hooks, the listing."""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest

import eventsync
from eventsync.plugins import BUILTIN_MODULES, Plugins, load_plugins

RECEIVER_DISTS = {"eventsync-stub", "eventsync-external", "eventsync-teamspace"}
CONTRACT_KEYS = {"name", "version", "builtin", "hooks", "receivers", "error"}


def loaded(environ: dict[str, str]) -> tuple[Plugins, list[str]]:
    warnings: list[str] = []
    return Plugins(environ=environ, warn=warnings.append), warnings


def external_names(plugins: Plugins) -> set[str]:
    return {info.name for info in plugins.listing()}


def receiver_module(name: str, type_name: str) -> types.ModuleType:
    """An in-memory plugin module registering one receiver class."""
    receiver = type(f"{name.title()}Receiver", (eventsync.DeliveryReceiver,),
                    {"type_name": type_name, "deliver": lambda self, events: []})
    module = types.ModuleType(name)

    @eventsync.hookimpl
    def register_receivers(register: Callable[[type], None]) -> None:
        register(receiver)

    module.register_receivers = register_receivers
    return module


# --- EVENTSYNC_LOAD_PLUGINS ------------------------------------------------------------------


def test_unset_loads_every_installed_plugin():
    plugins, warnings = loaded({})
    assert external_names(plugins) >= RECEIVER_DISTS
    assert "stub" in plugins.receiver_types()
    assert warnings == []


def test_empty_loads_none_but_the_builtins():
    plugins, _ = loaded({"EVENTSYNC_LOAD_PLUGINS": ""})
    assert external_names(plugins) == set()
    assert {i.name for i in plugins.listing(include_builtins=True)} == set(BUILTIN_MODULES)
    assert plugins.receiver_types() == {}
    assert "keep-all" in plugins.registries["retention_policies"]


@pytest.mark.parametrize("value", ["eventsync-stub", "eventsync_stub", " EventSync-Stub ,",
                                   "eventsync-stub,not-installed"])
def test_a_comma_list_loads_only_those_distributions(value):
    plugins, _ = loaded({"EVENTSYNC_LOAD_PLUGINS": value})
    assert external_names(plugins) == {"eventsync-stub"}
    assert set(plugins.receiver_types()) == {"stub"}
    builtins = {i.name for i in plugins.listing(include_builtins=True) if i.builtin}
    assert builtins == set(BUILTIN_MODULES)


def test_two_names_load_two(monkeypatch):
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "eventsync-external,eventsync-stub")
    assert external_names(load_plugins()) == {"eventsync-external", "eventsync-stub"}


def test_the_environment_is_read_when_loading_not_at_import(monkeypatch):
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "")
    assert external_names(load_plugins()) == set()
    monkeypatch.delenv("EVENTSYNC_LOAD_PLUGINS")
    assert external_names(load_plugins()) >= RECEIVER_DISTS


def test_each_load_is_a_fresh_manager():
    first, second = load_plugins(), load_plugins()
    assert first.pm is not second.pm
    first.register_plugin(receiver_module("only-first", "echo"), "only-first")
    assert "echo" in first.receiver_types() and "echo" not in second.receiver_types()


# --- collisions and bad plugins --------------------------------------------------------------


def test_a_duplicate_receiver_type_is_an_error_naming_both_plugins():
    plugins, warnings = loaded({"EVENTSYNC_LOAD_PLUGINS": ""})
    plugins.register_plugin(receiver_module("alpha", "echo"), "alpha-plugin")
    plugins.register_plugin(receiver_module("beta", "echo"), "beta-plugin")
    assert len(warnings) == 1
    assert "alpha-plugin" in warnings[0] and "beta-plugin" in warnings[0]
    assert "'echo'" in warnings[0]
    with pytest.raises(eventsync.PluginError, match="both alpha-plugin and beta-plugin"):
        plugins.receiver_class("echo")
    by_name = {i.name: i for i in plugins.listing()}
    assert "alpha-plugin" in by_name["beta-plugin"].error


def test_a_duplicate_with_an_installed_plugin_names_the_distribution():
    plugins, warnings = loaded({"EVENTSYNC_LOAD_PLUGINS": "eventsync-stub"})
    plugins.register_plugin(receiver_module("copycat", "stub"), "copycat")
    assert any("eventsync-stub" in w and "copycat" in w for w in warnings)
    with pytest.raises(eventsync.PluginError, match="both eventsync-stub and copycat"):
        plugins.receiver_class("stub")


def test_a_duplicate_is_fatal_in_strict_mode():
    plugins, _ = loaded({"EVENTSYNC_LOAD_PLUGINS": "", "EVENTSYNC_STRICT_PLUGINS": "1"})
    plugins.register_plugin(receiver_module("alpha", "echo"), "alpha-plugin")
    with pytest.raises(eventsync.PluginError, match=r"alpha-plugin.*beta-plugin"):
        plugins.register_plugin(receiver_module("beta", "echo"), "beta-plugin")


def test_registering_a_plugin_does_not_rerun_or_repeat_the_others():
    plugins, warnings = loaded({})
    before = {i.name: i.to_dict() for i in plugins.listing(include_builtins=True)}
    plugins.register_plugin(receiver_module("gamma", "gamma"), "gamma-plugin")
    after = {i.name: i.to_dict() for i in plugins.listing(include_builtins=True)}
    assert after.pop("gamma-plugin")["receivers"] == ["gamma"]
    assert after == before
    assert warnings == []


def test_a_misspelled_hook_is_reported_naming_the_plugin():
    module = types.ModuleType("typo")

    @eventsync.hookimpl
    def register_reciever(register):  # the typo under test
        raise AssertionError("never called")

    module.register_reciever = register_reciever
    plugins, warnings = loaded({"EVENTSYNC_LOAD_PLUGINS": ""})
    plugins.register_plugin(module, "typo-plugin")
    assert len(warnings) == 1
    assert "typo-plugin" in warnings[0] and "register_reciever" in warnings[0]
    assert "\n" not in warnings[0]
    info = next(i for i in plugins.listing() if i.name == "typo-plugin")
    assert "register_reciever" in info.error
    assert plugins.pm.get_plugin("typo-plugin") is None


def test_a_misspelled_hook_is_fatal_in_strict_mode():
    module = types.ModuleType("typo")
    module.register_recievers = eventsync.hookimpl(lambda register: None)
    plugins, _ = loaded({"EVENTSYNC_LOAD_PLUGINS": "", "EVENTSYNC_STRICT_PLUGINS": "1"})
    with pytest.raises(eventsync.PluginError, match=r"typo-plugin.*register_recievers"):
        plugins.register_plugin(module, "typo-plugin")


def test_a_hook_with_wrong_arguments_is_reported():
    module = types.ModuleType("args")
    module.register_receivers = eventsync.hookimpl(lambda registrar: None)
    plugins, warnings = loaded({"EVENTSYNC_LOAD_PLUGINS": ""})
    plugins.register_plugin(module, "args-plugin")
    assert len(warnings) == 1 and "args-plugin" in warnings[0]


def test_a_hook_that_raises_is_reported_and_the_rest_keeps_working():
    module = types.ModuleType("raiser")

    @eventsync.hookimpl
    def register_receivers(register):
        raise RuntimeError("exploded\nsecond line")

    module.register_receivers = register_receivers
    plugins, warnings = loaded({"EVENTSYNC_LOAD_PLUGINS": "eventsync-stub"})
    plugins.register_plugin(module, "raiser")
    assert len(warnings) == 1 and "raiser" in warnings[0] and "exploded" in warnings[0]
    assert "\n" not in warnings[0]
    assert plugins.receiver_class("stub").type_name == "stub"


def test_registering_something_that_is_not_a_receiver_is_reported():
    module = types.ModuleType("wrong")
    module.register_receivers = eventsync.hookimpl(lambda register: register(dict))
    plugins, warnings = loaded({"EVENTSYNC_LOAD_PLUGINS": ""})
    plugins.register_plugin(module, "wrong-plugin")
    assert len(warnings) == 1 and "wrong-plugin" in warnings[0]
    assert "DeliveryReceiver" in warnings[0]


def test_an_unknown_receiver_type_lists_the_installed_ones():
    plugins, _ = loaded({"EVENTSYNC_LOAD_PLUGINS": "eventsync-stub"})
    with pytest.raises(eventsync.PluginError, match=r"'nope'.*installed types: stub"):
        plugins.receiver_class("nope")


# --- the listing -----------------------------------------------------------------------------


def test_plugins_json_lists_installed_plugins_sorted_with_a_fixed_key_set(cli):
    res = cli("plugins", "--json")
    assert res.code == 0, res.err
    rows = res.json()
    names = [row["name"] for row in rows]
    assert names == sorted(names)
    assert set(names) >= RECEIVER_DISTS
    assert not any(row["builtin"] for row in rows)
    keys = {frozenset(row) for row in rows}
    assert len(keys) == 1 and set(next(iter(keys))) >= CONTRACT_KEYS
    stub = next(row for row in rows if row["name"] == "eventsync-stub")
    assert stub["receivers"] == ["stub"] and stub["error"] is None
    assert stub["hooks"] == sorted(stub["hooks"]) and "register_receivers" in stub["hooks"]
    assert isinstance(stub["version"], str)


def test_plugins_all_adds_the_builtins(cli):
    rows = cli("plugins", "--all", "--json").json()
    names = [row["name"] for row in rows]
    assert names == sorted(names)
    assert set(BUILTIN_MODULES) <= set(names)
    assert all(row["builtin"] for row in rows if row["name"] in BUILTIN_MODULES)


def test_plugins_json_with_no_plugins_is_an_empty_list(cli, monkeypatch):
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "")
    res = cli("plugins", "--json")
    assert (res.code, res.json(), res.err) == (0, [], "")


def test_plugins_table_for_humans(cli, monkeypatch):
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "eventsync-stub")
    lines = cli("plugins").out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "VERSION"]
    assert lines[1].startswith("eventsync-stub")


def test_a_distribution_pip_is_halfway_through_installing_breaks_no_command(tmp_path, monkeypatch,
                                                                             cli):
    """Its `.dist-info` may have an entry point but no METADATA yet (pip installing or removing
    it beside a running command): loading went by the missing name and every command died with
    "'<' not supported between instances of 'NoneType' and 'str'"."""
    site = tmp_path / "site"
    (site / "eventsync_halfway-1.0.dist-info").mkdir(parents=True)
    (site / "eventsync_halfway-1.0.dist-info" / "entry_points.txt").write_text(
        "[eventsync]\nhalfway = eventsync_halfway\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("EVENTSYNC_LOAD_PLUGINS")
    result = cli("sync", "targets", "list")
    assert result.code == 0, result.err
    assert "internal error" not in result.err
