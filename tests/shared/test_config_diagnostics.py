"""Every disagreement about the target is a problem with its fix; `sync status --check` exits 1."""

from __future__ import annotations

import pytest
from shared_helpers import (
    GatedPlugin,
    GatedReceiver,
    add_target,
    messages,
    only_problem,
    problems_of,
)

import eventsync
from eventsync import OfflineQueue, build_queue_scope, default_queue_db_path
from eventsync.config import EventSyncConfig
from eventsync.delivery.authority import resolve_authority
from eventsync.delivery.targets import TargetRegistry
from eventsync.plugins import Plugins
from eventsync.store import Store

URL = "http://127.0.0.1:9"  # nothing listens: status never posts


def _check(cli):
    result = cli("sync", "status", "--check", "--json")
    assert result.code == 1, result.out
    return result.json()


def test_env_target_naming_an_unknown_target(cli, monkeypatch):
    add_target(cli, "a", URL, "--activate")
    monkeypatch.setenv("EVENTSYNC_TARGET", "zz")

    report = _check(cli)

    assert report["authority"]["target"] is None
    assert only_problem(report) == {
        "message": "EVENTSYNC_TARGET names unknown target 'zz'",
        "fix": "unset EVENTSYNC_TARGET, or eventsync sync targets add zz --type TYPE --url URL"}


def test_env_url_matching_no_target(cli, monkeypatch):
    add_target(cli, "a", URL, "--activate")
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", "https://Events.Example.com:443/")

    report = _check(cli)

    assert report["authority"]["target"] is None
    assert only_problem(report) == {
        "message": "EVENTSYNC_SERVER_URL (https://events.example.com) matches no registered target",
        "fix": "eventsync sync targets add NAME --type TYPE --url https://events.example.com"
               " (or unset EVENTSYNC_SERVER_URL)"}


def test_env_url_matching_several_targets(cli, monkeypatch):
    add_target(cli, "red", URL, "--option", "team=red")
    add_target(cli, "blue", URL, "--option", "team=blue")
    add_target(cli, "other", "http://127.0.0.1:10", "--activate")
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", URL)

    report = _check(cli)

    assert report["authority"]["target"] is None
    assert only_problem(report) == {"message": "EVENTSYNC_SERVER_URL matches several targets "
                                               "(blue, red)",
                                    "fix": "set EVENTSYNC_TARGET to one of them"}


def test_env_url_matching_several_is_settled_by_the_configured_target(cli, monkeypatch, status):
    add_target(cli, "red", URL, "--option", "team=red", "--activate")
    add_target(cli, "blue", URL, "--option", "team=blue")
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", URL)

    report = status()

    assert (report["authority"]["target"], report["authority"]["source"]) == ("red", "env")
    assert problems_of(report) == []


def test_env_url_disagreeing_with_the_configured_target(cli, monkeypatch):
    add_target(cli, "a", URL, "--activate")
    add_target(cli, "b", "http://127.0.0.1:10")
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", "http://127.0.0.1:10")

    report = _check(cli)

    assert (report["authority"]["target"], report["authority"]["source"]) == ("b", "env")
    assert only_problem(report) == {
        "message": "EVENTSYNC_SERVER_URL selects target 'b' but config.toml's active target is 'a'",
        "fix": "eventsync sync targets use b (or unset EVENTSYNC_SERVER_URL)"}


def test_config_naming_a_target_that_is_not_registered(cli, home):
    add_target(cli, "a", URL)
    (home / "config.toml").write_text('[sync]\nactive_target = "ghost"\n')

    report = _check(cli)

    assert report["authority"]["target"] is None
    assert only_problem(report) == {
        "message": "config names active target 'ghost', which is not registered",
        "fix": "eventsync sync targets use NAME"}
    assert cli("sync", "now").code == 1


def test_receiver_plugin_not_installed(cli, monkeypatch, stub_server):
    server = stub_server()
    add_target(cli, "a", server.url, "--activate")
    cli("events", "append", "Lost", "A1")
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "eventsync-external")  # the stub is left out

    report = _check(cli)

    assert report["authority"]["target"] == "a"
    problem = only_problem(report)
    assert problem["message"].startswith("target 'a': no receiver plugin provides type 'stub'")
    assert problem["fix"] == "eventsync plugins install eventsync-stub"
    drained = cli("sync", "now")
    assert drained.code == 1
    assert "no receiver plugin provides type 'stub'" in drained.err
    assert server.events() == []


def test_closed_gate_reported_by_status_and_refused_by_sync_now(gated_cli):
    add_target(gated_cli, "g", URL, "--activate", type_name="gated")
    gated_cli("events", "append", "Held", "A1")

    report = _check(gated_cli)

    assert only_problem(report) == {
        "message": "target 'g' is not ready: SaaS sync is not enabled for this machine",
        "fix": "see the reason; then eventsync sync now"}
    drained = gated_cli("sync", "now")
    assert drained.code == 1
    assert "target g is not ready: SaaS sync is not enabled" in drained.err


def test_closed_gate_through_the_resolver(home):
    home.mkdir()
    store = Store(home / "eventsync.db")
    registry = TargetRegistry(store)
    registry.add("g", "gated", URL, {})
    plugins = Plugins(entry_points=False)
    plugins.register_plugin(GatedPlugin(), "gated-plugin")
    config = EventSyncConfig(active_target="g")

    gated = resolve_authority(registry, config, plugins=plugins, check_gate=True, environ={})
    unchecked = resolve_authority(registry, config, plugins=plugins, environ={})

    assert [p.message for p in gated.problems] == [
        "target 'g' is not ready: SaaS sync is not enabled for this machine"]
    assert unchecked.problems == ()
    store.close()


def test_teamspace_gate_closed_without_the_saas_opt_in(cli):
    if "teamspace" not in Plugins().receiver_types():
        pytest.skip("the eventsync-teamspace receiver is not installed yet")
    added = cli("sync", "targets", "add", "ts", "--type", "teamspace", "--url", URL,
                "--option", "team=t1", "--activate")
    assert added.code == 0, added.err

    report = _check(cli)

    assert any(m.startswith("target 'ts' is not ready") for m in messages(report))


def _legacy_queue(home, url: str, user: str | None, team: str | None):
    path = default_queue_db_path(build_queue_scope(url, user, team), home)
    queue = OfflineQueue(path)
    queue.append({"event_type": "Legacy", "aggregate_id": "A1", "payload": {}})
    queue.close()
    return path


def test_legacy_queue_whose_scope_no_target_has(cli, home, status):
    add_target(cli, "a", URL, "--option", "user=u1", "--option", "team=t1", "--activate")
    _legacy_queue(home, URL, "u1", "t1")  # a's own scope: fine
    stale = _legacy_queue(home, "https://old.example.com", "u1", "t1")

    report = _check(cli)

    assert only_problem(report) == {
        "message": f"legacy queue {stale.name} matches no registered target's scope",
        "fix": f"eventsync sync migrate --cleanup {home}"}
    assert cli("sync", "migrate", "--cleanup", str(home)).code == 0
    assert problems_of(status()) == []


def test_check_exits_0_when_nothing_is_wrong(cli):
    add_target(cli, "a", URL, "--activate")

    assert cli("sync", "status", "--check").code == 0
    assert cli("sync", "status", "--check", "--json").code == 0


def test_check_prints_every_problem_with_its_fix(cli, home, monkeypatch):
    add_target(cli, "a", URL, "--activate")
    (home / "config.toml").write_text('[sync]\nactive_target = "a"\ncolour = "blue"\n')
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", "http://127.0.0.1:11")

    result = cli("sync", "status", "--check")

    assert result.code == 1
    lines = [line for line in result.out.splitlines() if line.startswith("problem: ")]
    assert lines == [
        "problem: EVENTSYNC_SERVER_URL (http://127.0.0.1:11) matches no registered target "
        "(fix: eventsync sync targets add NAME --type TYPE --url http://127.0.0.1:11 "
        "(or unset EVENTSYNC_SERVER_URL))",
        "problem: config.toml has unknown key 'sync.colour' (kept, ignored) "
        "(fix: eventsync sync config show; remove sync.colour from config.toml)",
    ]
    assert "2 problem(s) found" in result.err


def test_check_json_has_authority_and_config(cli, monkeypatch):
    add_target(cli, "a", URL, "--activate")
    assert cli("sync", "config", "preset", "external-receiver").code == 0
    monkeypatch.setenv("EVENTSYNC_TARGET", "a")

    report = _check(cli)

    assert report["authority"] == {"target": "a", "source": "env", "problems": [
        {"message": "delivery mode is 'external' but target 'a' is of type 'stub'",
         "fix": "eventsync sync config set delivery.mode stub"}]}
    assert report["config"] == {"preset": "external-receiver", "retention": True,
                                "delivery": "external"}


def test_env_url_that_is_not_a_url(cli, monkeypatch):
    add_target(cli, "a", URL, "--activate")
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", "not a url")

    report = _check(cli)

    assert report["authority"]["target"] is None
    assert only_problem(report) == {"message": "EVENTSYNC_SERVER_URL is not a valid URL",
                                    "fix": "unset EVENTSYNC_SERVER_URL"}


class _CrashingReceiver(GatedReceiver):
    type_name = "crashing"

    def preflight(self) -> None:
        raise RuntimeError("token=s3cret leaked into a message")


class _CrashingPlugin:
    @eventsync.hookimpl
    def register_receivers(self, register):
        register(_CrashingReceiver)


def test_a_crashing_preflight_is_a_problem_not_a_crash_and_hides_its_message(home):
    home.mkdir()
    store = Store(home / "eventsync.db")
    registry = TargetRegistry(store)
    registry.add("x", "crashing", URL, {})
    plugins = Plugins(entry_points=False)
    plugins.register_plugin(_CrashingPlugin(), "crashing-plugin")

    authority = resolve_authority(registry, EventSyncConfig(active_target="x"), plugins=plugins,
                                  check_gate=True, environ={})

    assert [p.to_dict() for p in authority.problems] == [
        {"message": "target 'x': preflight failed: RuntimeError",
         "fix": "report it to the plugin's author"}]
    store.close()
