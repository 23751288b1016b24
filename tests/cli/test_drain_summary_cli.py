"""`sync now` ends with a one-line summary per target, with the newest error when anything is
still retrying; under `--all` every line names its target and a total line closes."""

from __future__ import annotations

import json

from cli_helpers import lines

REJECTED = "event type Bad is rejected by this stub"


def add(cli, name: str, url: str, *extra: str) -> None:
    assert cli("sync", "targets", "add", name, "--type", "stub", "--url", url, *extra).code == 0


def append(cli, event_type: str, count: int) -> None:
    body = "".join(json.dumps({"event_type": event_type, "aggregate_id": f"A{i}"}) + "\n"
                   for i in range(count))
    assert cli("events", "import", "-", stdin=body).code == 0


def test_a_clean_drain_is_one_line(cli, stub_server):
    add(cli, "primary", stub_server().url, "--activate")
    append(cli, "Step", 3)
    res = cli("sync", "now")
    assert (res.code, res.out, res.err) == (
        0, "primary: 3 attempted, 3 delivered, 0 duplicate, 0 retrying, 0 terminal-failed\n", "")


def test_retrying_events_put_the_newest_error_on_the_summary_line(cli, stub_server):
    add(cli, "primary", stub_server(reject_types=["Bad"]).url, "--activate")
    append(cli, "Good", 2)
    append(cli, "Bad", 1)
    res = cli("sync", "now")
    assert (res.code, res.err) == (0, "")
    assert res.out == ("primary: 3 attempted, 2 delivered, 0 duplicate, 1 retrying, "
                       f"0 terminal-failed; newest error: {REJECTED}\n")
    assert cli("sync", "now", "--json").json()["last_error"] is None  # nothing was due


def test_all_labels_every_line_and_ends_with_the_total(cli, stub_server):
    add(cli, "clean", stub_server().url)
    add(cli, "picky", stub_server(reject_types=["Bad"]).url)
    append(cli, "Good", 2)
    append(cli, "Bad", 1)
    res = cli("sync", "now", "--all")
    assert res.code == 0, res.err
    assert lines(res.out) == [
        "clean: 3 attempted, 3 delivered, 0 duplicate, 0 retrying, 0 terminal-failed",
        "picky: 3 attempted, 2 delivered, 0 duplicate, 1 retrying, 0 terminal-failed; "
        f"newest error: {REJECTED}",
        "all 2 targets: 6 attempted, 5 delivered, 0 duplicate, 1 retrying, 0 terminal-failed; "
        f"newest error: picky: {REJECTED}",
    ]


def test_all_labels_an_error_with_its_target(cli, stub_server, monkeypatch):
    add(cli, "orphan", stub_server().url)
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "")
    res = cli("sync", "now", "--all")
    assert res.code == 1
    assert res.err == ("eventsync: error: orphan: no receiver plugin provides type 'stub' "
                       "(installed types: none)\n")
