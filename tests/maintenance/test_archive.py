"""`sync archive` → `sync gc` → `sync migrate` round trip, byte for byte, through the CLI."""

from __future__ import annotations

import gzip
import json

import pytest
from support.lifecycle import deliver, event, raw_rows

from eventsync.home import DB_NAME

AWKWARD = {"text": "naïve ☃ \u2028 \"quoted\" \\ back", "float": 0.1, "big": 2**62,
           "neg": -0.0, "nested": {"b": [1, {"z": None, "a": True}], "a": 1e-7}}


def bodies(home):
    return raw_rows(home / DB_NAME, "SELECT seq, event_id, body FROM journal ORDER BY seq")


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_archive_gc_reimport_restores_every_byte(cli, home, tmp_path, store, journal,
                                                 add_target, name):
    target = add_target("one", "https://one.example")
    stored = [journal.append_event(event(**AWKWARD, i=i)) for i in range(5)]
    deliver(store, target, {e.event_id: "success" for e in stored[:3]})
    original = bodies(home)
    ledger = raw_rows(home / DB_NAME, "SELECT * FROM deliveries ORDER BY 1, 2")
    archive = tmp_path / name

    res = cli("sync", "archive", "--to", str(archive), "--json")
    assert res.code == 0, res.err
    assert res.json()["events"] == 5
    gc = cli("sync", "gc", "--policy", "max-events", "--max-events", "0", "--force", "--json")
    assert gc.json()["deleted"] == 5
    assert all(body is None for _, _, body in bodies(home))

    back = cli("sync", "migrate", str(archive), "--json")

    assert back.code == 0, back.out
    assert back.json()["restored"] == 5
    assert bodies(home) == original
    assert raw_rows(home / DB_NAME, "SELECT * FROM deliveries ORDER BY 1, 2") == ledger


def test_archive_lines_carry_the_ledger_history(cli, home, tmp_path, store, journal, add_target):
    one, two = add_target("one", "https://one.example"), add_target("two", "https://two.example")
    first = journal.append_event(event())
    deliver(store, one, {first.event_id: "success"})
    deliver(store, two, {first.event_id: "failed_permanent"})
    archive = tmp_path / "a.jsonl"

    cli("sync", "archive", "--to", str(archive))

    line = json.loads(archive.read_text().splitlines()[0])
    assert [(h["target"], h["state"]) for h in line["ledger"]] == [
        ("one", "success"), ("two", "failed_permanent")]
    assert line["ledger"][0]["delivered_at"] is not None
    assert {k: v for k, v in line.items() if k != "ledger"} == first.to_dict()


def test_archive_into_a_fresh_home_imports_the_events(cli, home, tmp_path, journal,
                                                     monkeypatch):
    stored = [journal.append_event(event()) for _ in range(3)]
    archive = tmp_path / "a.jsonl.gz"
    cli("sync", "archive", "--to", str(archive))
    with gzip.open(archive, "rt") as handle:
        assert handle.read().count("\n") == 3

    elsewhere = home.with_name("elsewhere")
    monkeypatch.setenv("EVENTSYNC_HOME", str(elsewhere))
    res = cli("sync", "migrate", str(archive), "--json")

    assert res.json()["imported"] == 3
    assert [r[2] for r in bodies(elsewhere)] == [e.to_json() for e in stored]


def test_before_limits_the_archive(cli, home, tmp_path, journal):
    journal.append_event(event())
    archive = tmp_path / "old.jsonl"
    res = cli("sync", "archive", "--to", str(archive), "--before", "2000-01-01", "--json")
    assert res.json()["events"] == 0 and archive.read_text() == ""
    res = cli("sync", "archive", "--to", str(tmp_path / "all.jsonl"), "--before",
              "2999-01-01T00:00:00Z", "--json")
    assert res.json()["events"] == 1


def test_archive_refuses_to_overwrite_and_bad_dates(cli, home, tmp_path, journal):
    journal.append_event(event())
    existing = tmp_path / "a.jsonl"
    existing.write_text("precious\n")
    res = cli("sync", "archive", "--to", str(existing))
    assert res.code == 1 and "already exists" in res.err
    assert existing.read_text() == "precious\n"
    res = cli("sync", "archive", "--to", str(tmp_path / "b.jsonl"), "--before", "yesterday")
    assert res.code == 1 and "invalid --before" in res.err
    assert not (tmp_path / "b.jsonl").exists()


def test_plugins_lists_every_policy_and_source(cli, home):
    listing = {p["name"]: p for p in cli("plugins", "--all", "--json").json()}
    assert listing["eventsync_builtins.retention"]["retention_policies"] == [
        "delivered-everywhere", "keep-all", "max-age", "max-events"]
    assert listing["eventsync_builtins.migration"]["migration_sources"] == [
        "jsonl", "offline-queue"]
