"""Which target eventsync talks to: --target > EVENTSYNC_TARGET > EVENTSYNC_SERVER_URL > config."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_helpers import add_target, messages

from eventsync.config import EventSyncConfig
from eventsync.delivery.authority import resolve_authority
from eventsync.delivery.targets import TargetRegistry
from eventsync.store import Store

# (--target, EVENTSYNC_TARGET, EVENTSYNC_SERVER_URL of, expected target, expected source)
CASES = [
    (None, None, None, "a", "config"),
    (None, None, "b", "b", "env"),
    (None, "c", None, "c", "env"),
    (None, "c", "b", "c", "env"),
    ("b", None, None, "b", "flag"),
    ("b", "c", None, "b", "flag"),
    ("a", "c", "b", "a", "flag"),
]


@pytest.fixture
def three(cli, stub_server):
    """Stub receivers a, b, c; `a` is config.toml's active target."""
    servers = {name: stub_server() for name in "abc"}
    for name, server in servers.items():
        add_target(cli, name, server.url, *(["--activate"] if name == "a" else []))
    return servers


def _set_env(monkeypatch, servers, env_target, env_url_of) -> None:
    if env_target:
        monkeypatch.setenv("EVENTSYNC_TARGET", env_target)
    if env_url_of:
        # another spelling of the same server: the match is by canonical URL
        monkeypatch.setenv("EVENTSYNC_SERVER_URL", servers[env_url_of].url.upper() + "/")


@pytest.mark.parametrize(("flag", "env_target", "env_url_of", "expected", "source"), CASES)
def test_sync_now_posts_to_the_target_precedence_picks(cli, three, monkeypatch, flag, env_target,
                                                       env_url_of, expected, source):
    event_id = cli("events", "append", "Precedence", "A1").out.strip()
    _set_env(monkeypatch, three, env_target, env_url_of)

    result = cli("sync", "now", "--json", *(["--target", flag] if flag else []))

    assert result.code == 0, result.err
    assert result.json()["target"] == expected
    assert result.json()["delivered"] == 1
    received = {name: [e["event_id"] for e in s.events()] for name, s in three.items()}
    assert received == {name: ([event_id] if name == expected else []) for name in three}


@pytest.mark.parametrize(("flag", "env_target", "env_url_of", "expected", "source"),
                         [c for c in CASES if c[0] is None])
def test_status_reports_the_target_and_where_it_came_from(cli, three, monkeypatch, status, flag,
                                                          env_target, env_url_of, expected,
                                                          source):
    _set_env(monkeypatch, three, env_target, env_url_of)

    report = status()

    assert report["authority"]["target"] == expected
    assert report["authority"]["source"] == source
    assert [t["name"] for t in report["targets"] if t["active"]] == [expected]


@pytest.mark.parametrize(("flag", "env_target", "env_url_of", "expected", "source"), CASES)
def test_resolver_source_for_every_case(home: Path, flag, env_target, env_url_of, expected,
                                        source):
    home.mkdir()
    store = Store(home / "eventsync.db")
    registry = TargetRegistry(store)
    urls = {name: f"http://127.0.0.1:{9000 + i}" for i, name in enumerate("abc")}
    for name, url in urls.items():
        registry.add(name, "stub", url, {})
    environ = {}
    if env_target:
        environ["EVENTSYNC_TARGET"] = env_target
    if env_url_of:
        environ["EVENTSYNC_SERVER_URL"] = urls[env_url_of]

    authority = resolve_authority(registry, EventSyncConfig(active_target="a"), flag=flag,
                                  environ=environ)

    assert (authority.target.name, authority.source) == (expected, source)
    store.close()


def test_flag_overrides_an_env_variable_naming_an_unknown_target(cli, three, monkeypatch):
    monkeypatch.setenv("EVENTSYNC_TARGET", "nowhere")

    result = cli("sync", "now", "--target", "b", "--json")

    assert result.code == 0, result.err
    assert result.json()["target"] == "b"


def test_env_url_disagreeing_with_config_is_warned_by_sync_now(cli, three, monkeypatch):
    cli("events", "append", "Precedence", "A1")
    monkeypatch.setenv("EVENTSYNC_SERVER_URL", three["b"].url)

    result = cli("sync", "now", "--json")

    assert result.json()["target"] == "b"
    assert "EVENTSYNC_SERVER_URL selects target 'b'" in result.err
    assert "eventsync sync targets use b" in result.err


def test_no_target_anywhere_is_one_problem_with_its_fix(cli, status):
    report = status()

    assert report["authority"] == {
        "target": None, "source": None,
        "problems": [{"message": "no active target is set",
                      "fix": "eventsync sync targets add NAME --type TYPE --url URL --activate"}]}
    result = cli("sync", "now")
    assert result.code == 1
    assert "no active target is set" in result.err


def test_env_name_beats_config_even_when_config_names_an_unknown_target(cli, three, monkeypatch,
                                                                         status):
    assert cli("sync", "config", "set", "sync.active_target", "gone").code == 0
    monkeypatch.setenv("EVENTSYNC_TARGET", "c")

    report = status()

    assert (report["authority"]["target"], report["authority"]["source"]) == ("c", "env")
    assert messages(report) == ["config names active target 'gone', which is not registered"]


def test_only_the_authority_module_reads_the_target_env_variables():
    """Drains, status, ingest and migration can only disagree if someone else reads them."""
    import eventsync

    roots = [Path(eventsync.__file__).parent, Path(eventsync.__file__).parents[2] / "plugins"]
    readers = sorted(
        str(path.relative_to(root.parent))
        for root in roots for path in root.rglob("*.py")
        if any(name in path.read_text(encoding="utf-8")
               for name in ("EVENTSYNC_TARGET", "EVENTSYNC_SERVER_URL"))
    )
    assert readers == ["eventsync/delivery/authority.py"]
