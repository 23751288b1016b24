"""How a Teamspace drain reads the server's answers, end to end against the stub in Teamspace
mode: the status words, terminal categories, 400 with and without details, 413 and oversize,
412, 429/5xx with Retry-After; asserting `sync now --json`, `sync status --json`, the ledger."""

from __future__ import annotations

import email.utils
import sqlite3
import time

import pytest
from support.receivers import ledger_rows, one_error
from teamspace_helpers import posted, status_of, sync_json

pytestmark = pytest.mark.usefixtures("saas")


def ids(envelopes) -> list[str]:
    return [e["event_id"] for e in envelopes]


def test_accepted_warning_and_queued(cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace(status_for=(("Accepted", "accepted"), ("Warned", "warning"),
                                   ("Queued", "queued")))
    ts_target(server.url)
    accepted = put_envelopes(2, event_type="Accepted")
    warned = put_envelopes(1, event_type="Warned")
    queued = put_envelopes(2, event_type="Queued")
    code, report, err = sync_json(cli)
    assert code == 0, err
    assert (report["delivered"], report["retrying"], report["terminal_failed"]) == (3, 2, 0)
    rows = ledger_rows(home, "ts")
    assert {rows[i][0] for i in ids(accepted) + ids(warned)} == {"success"}
    assert {rows[i][0] for i in ids(queued)} == {"pending"}  # kept, asked again later
    assert status_of(cli)["retrying"] == 2
    assert cli("sync", "retry", "--target", "ts").code == 0
    code, report, _ = sync_json(cli)
    assert (code, report["duplicate"]) == (0, 2)  # asked again: the server has them now
    assert {ledger_rows(home, "ts")[i][0] for i in ids(queued)} == {"duplicate"}


def test_rejected_is_retried_with_its_message_and_refusal_categories_are_terminal(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace(refuse_types=(("Refused", "project_refused"),
                                     ("Unconsented", "project_not_consented"),
                                     ("Other", "schema_mismatch")))
    ts_target(server.url)
    refused = put_envelopes(1, event_type="Refused")
    unconsented = put_envelopes(1, event_type="Unconsented")
    other = put_envelopes(1, event_type="Other")
    code, report, err = sync_json(cli)
    assert code == 0, err
    assert (report["terminal_failed"], report["retrying"]) == (2, 1)
    rows = ledger_rows(home, "ts")
    assert rows[refused[0]["event_id"]][0] == "failed_permanent"
    assert rows[unconsented[0]["event_id"]][0] == "failed_permanent"
    assert rows[other[0]["event_id"]][0] == "rejected"
    detail = cli("sync", "inspect", other[0]["event_id"], "--json").out
    assert "refused: schema_mismatch" in detail  # the server's error_message is the detail


def test_400_with_details_rejects_the_named_events_and_retries_the_rest(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace(invalid_types=frozenset({"Bad"}))
    ts_target(server.url)
    good = put_envelopes(2)
    bad = put_envelopes(1, event_type="Bad")
    code, _report, err = sync_json(cli)
    assert code == 0, err
    rows = ledger_rows(home, "ts")
    assert rows[bad[0]["event_id"]][0] == "rejected"
    assert {rows[i][0] for i in ids(good)} == {"failed_transient"}
    assert len(posted(server)) == 1
    assert "event type Bad is not valid here" in cli("sync", "inspect", bad[0]["event_id"],
                                                     "--json").out


def test_400_without_details_bisects_to_the_poison_event(cli, home, teamspace, ts_target,
                                                         put_envelopes):
    server = teamspace(poison_types=frozenset({"Poison"}))
    ts_target(server.url)
    before = put_envelopes(4)
    poison = put_envelopes(1, event_type="Poison")
    after = put_envelopes(3)
    code, report, err = sync_json(cli)
    assert code == 0, err
    assert (report["delivered"], report["retrying"]) == (7, 1)
    rows = ledger_rows(home, "ts")
    assert rows[poison[0]["event_id"]][0] == "rejected"
    assert {rows[i][0] for i in ids(before) + ids(after)} == {"success"}
    assert sorted(e["event_id"] for e in server.events()) == sorted(ids(before) + ids(after))
    assert len(posted(server)) > 2


def test_oversize_halves_and_a_lone_oversized_event_is_terminal(cli, home, teamspace,
                                                                ts_target, put_envelopes):
    """The stub enforces a smaller byte limit than it advertises: its 413s make the client
    halve; one event over it alone is failed_permanent."""
    server = teamspace(max_decompressed_bytes=6000, enforced_bytes=3000)
    ts_target(server.url)
    small = put_envelopes(6, payload={"note": "x" * 200})
    big = put_envelopes(1, payload={"note": "y" * 3500})
    code, _report, err = sync_json(cli)
    assert code == 0, err
    rows = ledger_rows(home, "ts")
    assert rows[big[0]["event_id"]][0] == "failed_permanent"
    assert {rows[i][0] for i in ids(small)} == {"success"}
    counts = [r["events"] for r in posted(server)]
    assert counts[0] > 1 and 1 in counts


def test_412_halts_the_pass_shows_the_guidance_and_keeps_the_events(
        cli, home, teamspace, ts_target, put_envelopes):
    server = teamspace(protocol="3.0")
    ts_target(server.url)
    envelopes = put_envelopes(5)
    code, _, err = sync_json(cli, "--batch-size", "2")
    assert code != 0
    line = one_error(err)
    assert "HTTP 412 client-too-old" in line
    assert "Upgrade the client to one that speaks sync protocol 3.0." in line
    assert len(posted(server)) == 1  # the pass halted at the first refusal
    assert ledger_rows(home, "ts") == {}  # nothing recorded: every event stays due
    assert status_of(cli)["pending"] == len(envelopes)


def test_503_honours_an_http_date_retry_after_capped_at_the_backoff_maximum(
        cli, home, stub_server, teamspace, ts_target, put_envelopes):
    """Issue 15.12: a Retry-After HTTP date an hour ahead parks the events for the backoff
    maximum (300 s by default), not for the normal first backoff of about a second."""
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server = teamspace(retry_after=when, fail_every=1)
    ts_target(server.url)
    put_envelopes(2)
    started = time.time()
    _, report, _ = sync_json(cli)
    assert report["retrying"] == 2
    conn = sqlite3.connect(home / "eventsync.db")
    waits = [row[0] / 1000 - started for row in conn.execute(
        "SELECT next_attempt_at FROM deliveries")]
    conn.close()
    assert all(290 <= w <= 310 for w in waits), waits
