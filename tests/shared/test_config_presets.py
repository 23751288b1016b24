"""The four presets through the CLI: what is stored, what `sync now` does, what status says."""

from __future__ import annotations

import json

import pytest
from shared_helpers import add_target, messages, only_problem, problems_of

from eventsync.audit import REFUSED_DISCARD, AuditLog
from eventsync.config import load_config
from eventsync.store import Store

NO_DELIVERY = ("delivery is off (preset local-retention or delivery = none): events are kept "
               "in the journal and sent nowhere")


def _journal_ids(cli) -> list[str]:
    return [e["event_id"] for e in cli("events", "list", "--json").json()]


def _append(cli, *args: str) -> str:
    result = cli("events", "append", *args)
    assert result.code == 0, result.err
    return result.out.strip()


@pytest.fixture
def active_stub(cli, stub_server):
    """A running stub receiver registered as the active target `a`."""
    server = stub_server()
    add_target(cli, "a", server.url, "--activate")
    return server


@pytest.mark.parametrize(("name", "retention", "delivery"), [
    ("teamspace", True, "teamspace"),
    ("external-receiver", True, "external"),
    ("local-retention", True, "none"),
    ("opt-out", False, "none"),
])
def test_each_preset_sets_retention_and_delivery(cli, status, name, retention, delivery):
    result = cli("sync", "config", "preset", name)

    assert result.code == 0, result.err
    assert result.out == (f"preset {name}: retention {'on' if retention else 'off'}, "
                          f"delivery {delivery}\n")
    assert status()["config"] == {"preset": name, "retention": retention, "delivery": delivery}


@pytest.mark.parametrize(("preset", "mode"), [("teamspace", "teamspace"),
                                              ("external-receiver", "external")])
def test_delivering_presets_retain_and_report_a_target_of_another_type(cli, active_stub, status,
                                                                       preset, mode):
    cli("sync", "config", "preset", preset)
    event_id = _append(cli, "Kept", "A1")

    report = status()
    drained = cli("sync", "now")

    assert _journal_ids(cli) == [event_id]
    assert only_problem(report) == {
        "message": f"delivery mode is '{mode}' but target 'a' is of type 'stub'",
        "fix": "eventsync sync config set delivery.mode stub"}
    assert cli("sync", "status", "--check").code == 1
    assert f"delivery mode is '{mode}' but target 'a' is of type 'stub'" in drained.err


def test_delivering_preset_with_a_matching_type_delivers_and_keeps_the_journal(cli, active_stub,
                                                                                status):
    cli("sync", "config", "preset", "external-receiver")
    cli("sync", "config", "set", "delivery.mode", "stub")
    ids = [_append(cli, "Kept", f"A{i}") for i in range(3)]

    drained = cli("sync", "now", "--json")

    assert drained.json()["delivered"] == 3
    assert [e["event_id"] for e in active_stub.events()] == ids
    assert _journal_ids(cli) == ids  # delivered events stay: the journal never deletes
    report = status()
    assert problems_of(report) == []
    assert report["targets"][0]["delivered"] == 3


def test_local_retention_keeps_events_and_sync_now_explains(cli, active_stub, status):
    cli("sync", "config", "preset", "local-retention")
    ids = [_append(cli, "Kept", "A1"), _append(cli, "Kept", "A2", "--family", "local")]

    plain = cli("sync", "now")
    as_json = cli("sync", "now", "--json")
    flagged = cli("sync", "now", "--target", "a")

    assert (plain.code, plain.out.strip()) == (0, NO_DELIVERY)
    assert as_json.code == 0
    assert as_json.json() == {"target": None, "attempted": 0, "delivered": 0, "duplicate": 0,
                              "retrying": 0, "terminal_failed": 0, "message": NO_DELIVERY}
    assert (flagged.code, flagged.out.strip()) == (0, NO_DELIVERY)
    assert active_stub.events() == []
    assert _journal_ids(cli) == ids
    report = status()
    assert report["authority"] == {"target": None, "source": None, "problems": []}
    assert report["journal"]["events"] == 2
    assert cli("sync", "status", "--check").code == 0


def test_opt_out_drops_local_events_and_counts_them(cli, home, status):
    cli("sync", "config", "preset", "opt-out")

    result = cli("events", "append", "Noise", "A1", "--family", "local")

    assert result.code == 0
    assert result.out == "dropped (opt-out: local event)\n"
    assert _journal_ids(cli) == []
    assert status()["audit"] == {"refused_discards": 0, "dropped_local": 1}
    assert sorted(p.name for p in home.glob("queue*.db")) == []


def test_opt_out_never_discards_a_teamspace_event_and_audits_the_refusal(cli, home, status):
    cli("sync", "config", "preset", "opt-out")

    kept = _append(cli, "WPStatusChanged", "WP01")  # family teamspace by default
    _append(cli, "Noise", "A1", "--family", "local")

    assert _journal_ids(cli) == [kept]
    report = status()
    assert report["audit"] == {"refused_discards": 1, "dropped_local": 1}
    human = cli("sync", "status").out
    assert "opt-out: 1 local events dropped, 1 teamspace events kept (discard refused)" in human
    store = Store(home / "eventsync.db")
    [row] = AuditLog(store).recent(REFUSED_DISCARD)
    store.close()
    assert row.subject == kept
    assert row.detail == {"event_type": "WPStatusChanged",
                          "reason": "opt-out keeps teamspace-family events"}


def test_opt_out_import_keeps_teamspace_lines_and_drops_local_ones(cli, status):
    cli("sync", "config", "preset", "opt-out")
    lines = [{"event_type": "Noise", "aggregate_id": f"N{i}", "family": "local"}
             for i in range(3)]
    lines.insert(1, {"event_type": "WPStatusChanged", "aggregate_id": "WP01"})
    stdin = "".join(json.dumps(line) + "\n" for line in lines)

    result = cli("events", "import", "-", "--json", stdin=stdin)

    assert result.code == 0, result.err
    assert result.json() == {"appended": 1, "duplicates": 0}
    assert "opt-out: 3 local events dropped" in result.err
    assert [e["event_type"] for e in cli("events", "list", "--json").json()] == ["WPStatusChanged"]
    assert status()["audit"] == {"refused_discards": 1, "dropped_local": 3}


def test_opt_out_posts_nothing_even_with_an_active_target(cli, active_stub, home, status):
    cli("sync", "config", "preset", "opt-out")
    _append(cli, "WPStatusChanged", "WP01")
    _append(cli, "Noise", "A1", "--family", "local")

    drained = cli("sync", "now")

    assert (drained.code, drained.out.strip()) == (0, NO_DELIVERY)
    assert active_stub.events() == []
    assert sorted(p.name for p in home.glob("queue*.db")) == []
    assert problems_of(status()) == []


def test_switching_preset_resets_what_the_preset_decides(cli, home):
    cli("sync", "config", "set", "delivery.mode", "stub")
    cli("sync", "config", "set", "retention.enabled", "false")
    cli("sync", "config", "set", "delivery.batch_size", "50")

    assert cli("sync", "config", "preset", "LOCAL_RETENTION").code == 0

    cfg = load_config(home)
    assert (cfg.preset, cfg.retention, cfg.delivery, cfg.batch_size) == (
        "local-retention", True, "none", 50)


def test_a_file_value_overrides_its_preset(cli, home, status):
    cli("sync", "config", "preset", "opt-out")
    cli("sync", "config", "set", "delivery.mode", "stub")

    assert status()["config"] == {"preset": "opt-out", "retention": False, "delivery": "stub"}


def test_unknown_preset_lists_the_four(cli, home):
    result = cli("sync", "config", "preset", "paranoid")

    assert result.code != 0
    assert result.err.strip() == ("eventsync: error: unknown preset 'paranoid' (presets: "
                                  "teamspace, external-receiver, local-retention, opt-out)")
    assert not (home / "config.toml").exists()


def test_delivery_mode_none_with_problems_still_reports_them(cli, monkeypatch, status):
    cli("sync", "config", "preset", "local-retention")
    monkeypatch.setenv("EVENTSYNC_TARGET", "nowhere")

    assert messages(status()) == ["EVENTSYNC_TARGET names unknown target 'nowhere'"]
