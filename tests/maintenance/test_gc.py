"""`sync gc` through the CLI: policies select, protection vetoes, tombstones keep the history."""

from __future__ import annotations

import time

import pytest
from support.lifecycle import deliver, event, raw_rows

from eventsync.home import DB_NAME
from eventsync.plugins import Plugins

DAY_MS = 86_400_000


@pytest.fixture
def fleet(store, journal, add_target):
    """Two targets; e0 delivered to both, e1 to one, e2 failed on one, e3 to neither."""
    one, two = add_target("one", "https://one.example"), add_target("two", "https://two.example")
    ids = [journal.append_event(event()).event_id for _ in range(4)]
    deliver(store, one, {ids[0]: "success", ids[1]: "success", ids[2]: "failed_permanent"})
    deliver(store, two, {ids[0]: "duplicate", ids[2]: "success"})
    return ids


def age(home, event_ids, days):
    """Arrange: pretend these events were appended `days` ago."""
    import sqlite3

    conn = sqlite3.connect(home / DB_NAME)
    then = time.time_ns() // 1_000_000 - days * DAY_MS
    conn.executemany("UPDATE journal SET appended_at = ? WHERE event_id = ?",
                     [(then, i) for i in event_ids])
    conn.commit()
    conn.close()


def live_ids(home):
    return [r[0] for r in raw_rows(home / DB_NAME,
                                   "SELECT event_id FROM journal WHERE body IS NOT NULL"
                                   " ORDER BY seq")]


def test_default_policy_keeps_everything(cli, home, fleet):
    res = cli("sync", "gc", "--json")
    assert res.code == 0, res.err
    assert res.json() == {"policy": "keep-all", "dry_run": False, "forced": False,
                          "selected": 0, "protected": 0, "deleted": 0, "bytes_freed": 0}
    assert live_ids(home) == fleet


def test_protection_spares_what_a_target_still_needs(cli, home, fleet):
    res = cli("sync", "gc", "--policy", "max-events", "--max-events", "0")

    assert res.code == 0, res.err
    assert "protected 3 events not yet delivered to every registered target" in res.out
    assert live_ids(home) == fleet[1:]


def test_force_deletes_protected_events_but_keeps_rows_and_ledger(cli, home, fleet):
    ledger_before = raw_rows(home / DB_NAME, "SELECT * FROM deliveries ORDER BY 1, 2")

    res = cli("sync", "gc", "--policy", "max-events", "--max-events", "0", "--force", "--json")

    assert res.json()["deleted"] == 4 and res.json()["protected"] == 0
    assert live_ids(home) == []
    rows = raw_rows(home / DB_NAME, "SELECT event_id, body, body_bytes FROM journal ORDER BY seq")
    assert [r[0] for r in rows] == fleet and all(r[1] is None for r in rows)
    assert res.json()["bytes_freed"] == sum(r[2] for r in rows)
    assert raw_rows(home / DB_NAME, "SELECT * FROM deliveries ORDER BY 1, 2") == ledger_before


def test_seq_is_never_reused_after_gc(cli, home, fleet, journal):
    cli("sync", "gc", "--policy", "max-events", "--max-events", "0", "--force")
    fresh = journal.append_event(event())
    seqs = raw_rows(home / DB_NAME, "SELECT seq, event_id FROM journal ORDER BY seq")
    assert seqs[-1] == (5, fresh.event_id)


def test_dry_run_changes_nothing(cli, home, fleet):
    res = cli("sync", "gc", "--policy", "max-events", "--max-events", "0", "--dry-run")
    assert "would delete the payloads of 1 events" in res.out and "dry run" in res.out
    assert live_ids(home) == fleet


def test_max_age_selects_only_old_events(cli, home, fleet):
    age(home, fleet[:2], days=40)
    res = cli("sync", "gc", "--policy", "max-age", "--older-than", "30d", "--json").json()
    assert (res["selected"], res["deleted"], res["protected"]) == (2, 1, 1)
    assert live_ids(home) == fleet[1:]


def test_max_events_keeps_the_newest(cli, home, fleet):
    res = cli("sync", "gc", "--policy", "max-events", "--max-events", "3", "--json").json()
    assert (res["selected"], res["deleted"]) == (1, 1)
    assert live_ids(home) == fleet[1:]


def test_delivered_everywhere_needs_every_target(cli, home, fleet):
    res = cli("sync", "gc", "--policy", "delivered-everywhere", "--json").json()
    assert (res["selected"], res["deleted"], res["protected"]) == (1, 1, 0)
    assert live_ids(home) == fleet[1:]


def test_delivered_everywhere_with_older_than(cli, home, fleet):
    res = cli("sync", "gc", "--policy", "delivered-everywhere", "--older-than", "1d", "--json")
    assert res.json()["selected"] == 0
    age(home, fleet[:1], days=2)
    res = cli("sync", "gc", "--policy", "delivered-everywhere", "--older-than", "1d", "--json")
    assert res.json()["deleted"] == 1


def test_delivered_everywhere_selects_nothing_without_targets(cli, home, journal):
    journal.append_event(event())
    res = cli("sync", "gc", "--policy", "delivered-everywhere", "--json").json()
    assert res["selected"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (("--policy", "max-age"), "needs --older-than"),
    (("--policy", "max-events"), "needs --max-events"),
    (("--policy", "keep-all", "--older-than", "3d"), "does not use --older-than"),
    (("--policy", "nope"), "unknown retention policy 'nope'"),
])
def test_bad_options_are_one_line_and_delete_nothing(cli, home, fleet, args, message):
    res = cli("sync", "gc", *args)
    assert res.code != 0 and message in res.err and res.err.count("\n") == 1
    assert live_ids(home) == fleet


def test_bad_duration_is_a_usage_error(cli, home, fleet):
    res = cli("sync", "gc", "--policy", "max-age", "--older-than", "30 days")
    assert res.code == 2 and "30d, 12h, 90m" in res.err


def test_gc_preview_and_growth_for_status(store, fleet, home):
    from eventsync.maintenance.gc import gc_preview, journal_growth

    plugins = Plugins(entry_points=False)
    assert gc_preview(store, plugins, "delivered-everywhere")["events"] == 1
    assert gc_preview(store, plugins, "max-age")["error"].startswith("retention policy max-age")
    growth = journal_growth(store)
    assert growth["events"] == 4 and growth["tombstones"] == 0
    assert growth["disk_bytes"] > 0 and growth["oldest_age_seconds"] >= 0


def test_a_third_party_policy_is_applied_and_still_protected(store, fleet):
    import types

    import eventsync
    from eventsync.maintenance.gc import run_gc

    class Everything:
        name = "everything"
        options = ()

        def select(self, context):
            return [e.seq for e in context.events()]

    module = types.SimpleNamespace(register_retention_policies=eventsync.hookimpl(
        lambda register: register(Everything)))
    plugins = Plugins(entry_points=False)
    plugins.register_plugin(module, "third-party")

    report = run_gc(store, plugins, "everything")

    assert (report.selected, report.deleted, report.protected) == (4, 1, 3)
