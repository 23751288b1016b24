"""Coalescing never touches an event some target has (or may have) received."""

from __future__ import annotations

import pytest
from support.lifecycle import deliver, event, raw_rows

from eventsync.delivery.ledger import Ledger
from eventsync.home import DB_NAME
from eventsync.journal.coalesce import CoalesceOutcome, Coalescer

STATUS = "WPStatusChanged"


@pytest.fixture
def coalescer(journal):
    return Coalescer(journal, [STATUS])


@pytest.fixture
def two_targets(add_target):
    return add_target("one", "https://one.example"), add_target("two", "https://two.example")


def raw_row(home, event_id):
    return raw_rows(home / DB_NAME, "SELECT * FROM journal WHERE event_id = ?", (event_id,))


def test_an_untouched_prior_is_replaced(coalescer, home):
    first = coalescer.append(event(STATUS, "WP01", to="doing"))
    second = coalescer.append(event(STATUS, "WP01", to="done"))

    assert first.outcome is CoalesceOutcome.APPENDED
    assert (second.outcome, second.prior_event_id) == (CoalesceOutcome.REPLACED,
                                                        first.event.event_id)
    assert raw_row(home, first.event.event_id)[0][5] is None  # body dropped, row kept
    assert coalescer.journal.get(second.event.event_id) == second.event
    assert len(coalescer.journal) == 1


def test_prior_delivered_to_one_of_two_targets_keeps_its_exact_row(coalescer, home, store,
                                                                   two_targets):
    one, _two = two_targets
    first = coalescer.append(event(STATUS, "WP01", to="doing"))
    deliver(store, one, {first.event.event_id: "success"})
    before = raw_row(home, first.event.event_id)

    second = coalescer.append(event(STATUS, "WP01", to="done"))

    assert second.outcome is CoalesceOutcome.SUPERSEDED
    assert raw_row(home, first.event.event_id) == before
    assert coalescer.journal.get(first.event.event_id).to_json() == first.event.to_json()


def test_a_failed_attempt_counts_as_possibly_received(coalescer, home, store, two_targets):
    one, _two = two_targets
    first = coalescer.append(event(STATUS, "WP01", to="doing"))
    deliver(store, one, {first.event.event_id: "failed_transient"})
    before = raw_row(home, first.event.event_id)

    assert coalescer.append(event(STATUS, "WP01")).outcome is CoalesceOutcome.SUPERSEDED
    assert raw_row(home, first.event.event_id) == before


def test_a_selected_batch_not_yet_recorded_prevents_replacement(coalescer, home, store,
                                                                two_targets):
    """The pin is taken when a drain selects a batch, before it posts: an event in flight is
    already immutable, though no outcome is recorded for it yet."""
    one, _two = two_targets
    first = coalescer.append(event(STATUS, "WP01"))
    before = raw_row(home, first.event.event_id)
    ledger = Ledger(store)
    in_flight = ledger.next_batch(one.id, 100, due_by=2**62, up_to=ledger.high_water())
    assert in_flight.event_ids == [first.event.event_id]

    assert coalescer.append(event(STATUS, "WP01")).outcome is CoalesceOutcome.SUPERSEDED
    assert raw_row(home, first.event.event_id) == before
    assert ledger.history(before[0][0]) == [], "nothing was recorded: only the pin protects it"


def test_other_types_and_aggregates_are_not_coalesced(coalescer):
    coalescer.append(event(STATUS, "WP01"))
    assert coalescer.append(event(STATUS, "WP02")).outcome is CoalesceOutcome.APPENDED
    assert coalescer.append(event("WPCreated", "WP01")).outcome is CoalesceOutcome.APPENDED
    assert len(coalescer.journal) == 3


def test_delivered_event_ids_and_bytes_never_change(coalescer, store, two_targets, home):
    one, two = two_targets
    sent: dict[str, str] = {}
    for round_ in range(6):
        stored = coalescer.append(event(STATUS, "WP01", round=round_)).event
        if round_ % 2 == 0:
            deliver(store, one if round_ % 4 == 0 else two, {stored.event_id: "success"})
            sent[stored.event_id] = stored.to_json()
    rows = dict(raw_rows(home / DB_NAME, "SELECT event_id, body FROM journal"))
    assert {event_id: rows[event_id] for event_id in sent} == sent


def test_a_superseded_event_some_target_was_handed_goes_to_every_target(coalescer, store,
                                                                       two_targets):
    one, two = two_targets
    ledger = Ledger(store)
    delivered = coalescer.append(event(STATUS, "WP01", to="a")).event
    deliver(store, one, {delivered.event_id: "success"})
    kept = coalescer.append(event(STATUS, "WP01", to="b")).event
    in_flight = ledger.next_batch(one.id, 100, due_by=2**62, up_to=ledger.high_water())
    assert in_flight.event_ids == [kept.event_id]
    latest = coalescer.append(event(STATUS, "WP01", to="c")).event

    batch = ledger.next_batch(two.id, 100, due_by=2**62, up_to=ledger.high_water())

    assert batch.event_ids == [delivered.event_id, kept.event_id, latest.event_id]
    assert batch.bodies[1] == kept.to_json()


def test_a_replaced_event_is_skipped_by_every_target(coalescer, store, two_targets):
    one, two = two_targets
    ledger = Ledger(store)
    replaced = coalescer.append(event(STATUS, "WP01", to="a"))
    latest = coalescer.append(event(STATUS, "WP01", to="b"))
    assert latest.outcome is CoalesceOutcome.REPLACED

    for target in (one, two):
        batch = ledger.next_batch(target.id, 100, due_by=2**62, up_to=ledger.high_water())
        assert batch.event_ids == [latest.event.event_id]
        assert replaced.event.event_id not in batch.event_ids
