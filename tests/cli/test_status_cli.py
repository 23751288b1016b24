"""`sync status` says why: per-target newest error, since when failing, the top retry reasons,
delivered vs duplicate, the offline queue with retention off, orphaned targets, and a receiver
that breaks the contract named in `last_error`."""

from __future__ import annotations

import json
import re

from cli_helpers import lines, table

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
REJECTED = "event type Bad is rejected by this stub"


def add(cli, name: str, url: str, *extra: str, kind: str = "stub") -> None:
    res = cli("sync", "targets", "add", name, "--type", kind, "--url", url, *extra)
    assert res.code == 0, res.err


def append(cli, event_type: str, count: int) -> None:
    body = "".join(json.dumps({"event_type": event_type, "aggregate_id": f"A{i}"}) + "\n"
                   for i in range(count))
    res = cli("events", "import", "-", stdin=body)
    assert res.code == 0, res.err


def target_row(report: dict, name: str) -> dict:
    return next(t for t in report["targets"] if t["name"] == name)


def test_the_table_distinguishes_delivered_from_duplicate(cli, stub_server, tmp_path):
    db = tmp_path / "stub.db"
    first, second = stub_server(db=db), stub_server(db=db)  # one store: the second has it all
    add(cli, "primary", first.url, "--activate")
    add(cli, "mirror", second.url)
    append(cli, "Step", 4)
    assert cli("sync", "now").code == 0
    assert cli("sync", "now", "--target", "mirror").code == 0

    out = cli("sync", "status").out
    assert table(out)[3:] == [
        ["NAME", "TYPE", "URL", "DELIVERED", "DUPLICATE", "PENDING", "RETRYING",
         "TERMINAL-FAILED"],
        ["mirror", "stub", second.url, "4", "4", "0", "0", "0"],
        ["*", "primary", "stub", first.url, "4", "0", "0", "0", "0"],
    ]


def test_retrying_events_show_the_newest_error_and_the_top_reasons(cli, stub_server):
    server = stub_server(reject_types=["Bad"])
    add(cli, "primary", server.url, "--activate")
    append(cli, "Bad", 3)
    append(cli, "Good", 2)
    assert cli("sync", "now").code == 0

    [row] = cli("sync", "status", "--json").json()["targets"]
    assert (row["delivered"], row["retrying"]) == (2, 3)
    assert row["last_error"] == REJECTED
    assert row["retry_reasons"] == [{"reason": REJECTED, "events": 3}]
    assert row["unreachable_since"] is None
    notes = [line for line in lines(cli("sync", "status").out) if line.startswith("primary:")]
    assert len(notes) == 2
    assert re.fullmatch(rf"primary: last error \({STAMP}\): {REJECTED}", notes[0])
    assert notes[1] == f"primary: retrying because: 3 × {REJECTED}"


def test_an_unreachable_target_shows_since_when_and_why(cli, stub_server):
    server = stub_server()
    url = server.url
    server.stop()  # nothing listens there any more
    add(cli, "gone", url, "--activate")
    append(cli, "Step", 2)
    cli("sync", "now")

    [row] = cli("sync", "status", "--json").json()["targets"]
    assert isinstance(row["unreachable_since"], int)
    assert row["last_error"] == "connection failed: connection refused"
    notes = [line for line in lines(cli("sync", "status").out) if line.startswith("gone:")]
    assert re.fullmatch(rf"gone: last error \({STAMP}\): connection failed: connection refused",
                        notes[0])
    assert re.fullmatch(rf"gone: failing since {STAMP}", notes[1])
    assert notes[2] == "gone: retrying because: 2 × connection failed: connection refused"


SHORT_RECEIVER = """
    import eventsync

    class Short(eventsync.DeliveryReceiver):
        type_name = "short"

        def preflight(self):
            pass

        def deliver(self, events):
            ok = eventsync.DeliveryStatus.SUCCESS
            return [eventsync.DeliveryResult(e.event_id, ok) for e in events[:-3]]

    @eventsync.hookimpl
    def register_receivers(register):
        register(Short)
"""


def test_a_receiver_that_returns_too_few_results_is_named_in_last_error(cli, fake_plugin):
    fake_plugin("eventsync_short", SHORT_RECEIVER)
    add(cli, "short", "http://127.0.0.1:9", "--activate", kind="short")
    append(cli, "Step", 1000)
    assert cli("sync", "now", "--batch-size", "1000").code == 0

    [row] = cli("sync", "status", "--json").json()["targets"]
    breach = "receiver returned 997 results for 1,000 events; none valid for this event"
    assert (row["delivered"], row["retrying"], row["last_error"]) == (997, 3, breach)
    assert row["retry_reasons"] == [{"reason": breach, "events": 3}]


def test_every_target_without_its_plugin_is_listed_with_the_fix(cli, stub_server, monkeypatch):
    url = stub_server().url
    add(cli, "one", url, "--activate")
    add(cli, "two", url + "/two")
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "")  # the stub plugin is gone

    res = cli("sync", "status", "--check")
    assert res.code == 1
    problems = [line for line in lines(res.out) if line.startswith("problem:")]
    assert problems == [
        f"problem: target {name!r}: no receiver plugin provides type 'stub' (installed types: "
        f"none) (fix: eventsync plugins install eventsync-stub, or eventsync sync targets remove "
        f"{name} --forget-ledger)" if name == "two" else
        "problem: target 'one': no receiver plugin provides type 'stub' (installed types: none)"
        " (fix: eventsync plugins install eventsync-stub)"
        for name in ("one", "two")
    ]
    assert [row[2] for row in table(res.out)[4:6]] == ["stub", "(no"]

    listed = cli("sync", "targets", "list", "--json").json()
    assert [(t["name"], t["plugin"]) for t in listed] == [("one", None), ("two", None)]
    assert listed[1]["problem"] == {
        "message": "target 'two': no receiver plugin provides type 'stub' (installed types: "
                   "none)",
        "fix": "eventsync plugins install eventsync-stub, or eventsync sync targets remove two "
               "--forget-ledger"}
    human = cli("sync", "targets", "list").out
    assert [row[-1] for row in table(human)[1:3]] == ["MISSING", "MISSING"]
    assert lines(human)[3].startswith("problem: target 'one': no receiver plugin provides")


def test_targets_list_names_the_plugin_when_it_is_there(cli, stub_server):
    url = stub_server().url
    add(cli, "one", url)
    [row] = cli("sync", "targets", "list", "--json").json()
    assert (row["plugin"], row["problem"]) == ("eventsync-stub", None)
    assert table(cli("sync", "targets", "list").out) == [
        ["NAME", "TYPE", "URL", "IDENTITY", "PLUGIN"],
        ["one", "stub", url, f"stub:{url}", "eventsync-stub"],
    ]


def test_with_retention_off_status_shows_the_offline_queue(cli, stub_server):
    url = stub_server().url
    add(cli, "primary", url, "--activate")
    assert cli("sync", "config", "set", "retention.enabled", "false").code == 0
    for n in range(2):
        assert cli("events", "append", "Step", f"A{n}").code == 0

    report = cli("sync", "status", "--json").json()
    assert report["queue"]["events"] == 2
    assert report["queue"]["oldest_age_seconds"] >= 0
    line = next(x for x in lines(cli("sync", "status").out) if x.startswith("offline queue:"))
    assert re.fullmatch(r"offline queue: 2 events waiting, oldest \d+s ago, 0 teamspace events "
                        r"evicted so far \(.*queue-[0-9a-f]{16}\.db\)", line)

    assert cli("sync", "now").code == 0
    assert cli("sync", "status", "--json").json()["queue"]["events"] == 0


def test_evictions_at_the_queue_cap_are_counted(cli, stub_server):
    add(cli, "primary", stub_server().url, "--activate")
    assert cli("sync", "config", "set", "retention.enabled", "false").code == 0
    assert cli("sync", "config", "set", "queue.max_size", "2").code == 0
    for n in range(5):
        res = cli("events", "append", "Step", f"A{n}")
        assert res.code == 0, res.err
    queue = cli("sync", "status", "--json").json()["queue"]
    assert (queue["events"], queue["evicted"]) == (2, 3)


def test_status_json_has_every_contract_key(cli):
    report = cli("sync", "status", "--json").json()
    assert {"journal", "targets", "authority", "config", "queue", "migration"} <= set(report)
    assert report["migration"] == {"files": 0, "conflicts": 0}
    assert {"events"} <= set(report["queue"])
    assert {"events", "bytes"} <= set(report["journal"])


STRANGER_RECEIVER = """
    import eventsync

    class Stranger(eventsync.DeliveryReceiver):
        type_name = "stranger"

        def preflight(self):
            pass

        def deliver(self, events):
            ok = eventsync.DeliveryStatus.SUCCESS
            results = [eventsync.DeliveryResult(e.event_id, ok) for e in events[1:]]
            return results + [eventsync.DeliveryResult("01HZY8J6ZC4M1V3T9Q2K7XW5RB", ok)]

    @eventsync.hookimpl
    def register_receivers(register):
        register(Stranger)
"""


def test_results_for_ids_it_was_not_sent_are_named_too(cli, fake_plugin):
    fake_plugin("eventsync_stranger", STRANGER_RECEIVER)
    add(cli, "odd", "http://127.0.0.1:9", "--activate", kind="stranger")
    append(cli, "Step", 10)
    res = cli("sync", "now")
    breach = ("receiver returned 10 results for 10 events (1 for ids it was not sent); none "
              "valid for this event")
    assert res.out == ("odd: 10 attempted, 9 delivered, 0 duplicate, 1 retrying, "
                       f"0 terminal-failed; newest error: {breach}\n")
    [row] = cli("sync", "status", "--json").json()["targets"]
    assert row["last_error"] == breach
