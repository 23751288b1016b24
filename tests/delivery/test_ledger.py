"""Every ledger transition, read back from the rows on disk."""

from __future__ import annotations

import pytest
from delivery_helpers import FAR_FUTURE, Spine, now_ms, open_spine, results

from eventsync.delivery import ledger as ledger_module
from eventsync.delivery.ledger import Batch, RetryPolicy, TargetCounts
from eventsync.receivers import DeliveryResult, DeliveryStatus

RETRYING = ["pending", "rejected", "failed_transient"]
S = DeliveryStatus


def attempt(spine: Spine, target_id: int, status: str, *, limit: int = 1000,
            retry_after: float | None = None, due_by: int | None = None) -> Batch:
    """Select what is due (by now unless told) and record one outcome for all of it."""
    batch = spine.select(target_id, limit, due_by=now_ms() if due_by is None else due_by)
    spine.ledger.record(target_id, batch, results(batch, status, retry_after=retry_after))
    return batch


@pytest.mark.parametrize("status", ["success", "duplicate"])
def test_delivered_is_terminal(spine: Spine, status: str) -> None:
    events = spine.append(3)
    before = now_ms()
    attempt(spine, 1, status)
    rows = spine.rows(1)
    assert list(rows) == [e.event_id for e in events]
    for row in rows.values():
        assert row["state"] == status
        assert row["attempts"] == 1
        assert row["next_attempt_at"] is None
        assert before <= row["delivered_at"] <= now_ms()
        assert row["first_attempt_at"] == row["last_attempt_at"] == row["delivered_at"]
    assert spine.select(1).items == []
    assert spine.ledger.next_due_at(1) is None


@pytest.mark.parametrize("status", RETRYING)
def test_retrying_states_wait_for_backoff_then_come_back(spine: Spine, status: str) -> None:
    events = spine.append(2)
    attempt(spine, 1, status)
    rows = spine.rows(1)
    for row in rows.values():
        assert row["state"] == status
        assert row["delivered_at"] is None
        assert row["next_attempt_at"] > row["last_attempt_at"]
    assert spine.select(1, due_by=now_ms()).items == []
    assert spine.ledger.next_due_at(1) == min(r["next_attempt_at"] for r in rows.values())
    again = spine.select(1)
    assert sorted(i.event.event_id for i in again.items) == [e.event_id for e in events]
    assert all(not item.new for item in again.items)
    spine.ledger.record(1, again, results(again, "success"))
    assert {r["state"] for r in spine.rows(1).values()} == {"success"}
    assert {r["attempts"] for r in spine.rows(1).values()} == {2}
    assert spine.select(1).items == []


def test_backoff_doubles_per_attempt_within_the_jitter(tmp_path) -> None:
    spine = open_spine(tmp_path / "db", RetryPolicy(base_seconds=2.0, max_seconds=10_000,
                                                    jitter=0.25))
    spine.append(40)
    for n in range(1, 7):
        attempt(spine, 1, "failed_transient", due_by=FAR_FUTURE)
        expected = 2.0 * 2 ** (n - 1) * 1000
        delays = [r["next_attempt_at"] - r["last_attempt_at"] for r in spine.rows(1).values()]
        assert {r["attempts"] for r in spine.rows(1).values()} == {n}
        assert all(expected * 0.75 - 1 <= d <= expected * 1.25 + 1 for d in delays), (n, delays)
        assert len(set(delays)) > 1, "jitter spreads the retries"
    spine.store.close()


@pytest.mark.parametrize("extreme", ["low", "high"])
def test_jitter_is_bounded_and_the_cap_holds(tmp_path, monkeypatch, extreme: str) -> None:
    pick = (lambda a, b: a) if extreme == "low" else (lambda a, b: b)
    monkeypatch.setattr(ledger_module._JITTER, "uniform", pick)
    spine = open_spine(tmp_path / "db", RetryPolicy(base_seconds=1.0, max_seconds=5.0,
                                                    jitter=0.2))
    spine.append(1)
    delays = []
    for _ in range(8):
        attempt(spine, 1, "failed_transient", due_by=FAR_FUTURE)
        row = next(iter(spine.rows(1).values()))
        delays.append(row["next_attempt_at"] - row["last_attempt_at"])
    if extreme == "low":
        assert delays == [800, 1600, 3200, 5000, 5000, 5000, 5000, 5000]
    else:
        assert delays == [1200, 2400, 4800, 5000, 5000, 5000, 5000, 5000]
    spine.store.close()


def test_retry_after_wins_when_longer_and_is_bounded(spine: Spine) -> None:
    spine.append(1)
    attempt(spine, 1, "failed_transient", retry_after=120)
    row = next(iter(spine.rows(1).values()))
    assert row["next_attempt_at"] - row["last_attempt_at"] == 120_000
    attempt(spine, 1, "failed_transient", retry_after=0.01, due_by=FAR_FUTURE)
    row = next(iter(spine.rows(1).values()))
    assert 1600 <= row["next_attempt_at"] - row["last_attempt_at"] <= 2400
    attempt(spine, 1, "failed_transient", retry_after=10 ** 6, due_by=FAR_FUTURE)
    row = next(iter(spine.rows(1).values()))  # capped at the backoff maximum (issue 15.12)
    assert row["next_attempt_at"] - row["last_attempt_at"] == spine.ledger.retry.max_seconds * 1000


def test_failed_permanent_is_kept_and_never_selected_until_retried(spine: Spine) -> None:
    events = spine.append(3)
    attempt(spine, 1, "failed_permanent", limit=1)
    attempt(spine, 1, "success")
    row = spine.rows(1)[events[0].event_id]
    assert (row["state"], row["next_attempt_at"], row["delivered_at"]) == \
        ("failed_permanent", None, None)
    assert spine.select(1, due_by=FAR_FUTURE).items == []
    assert spine.ledger.counts(1).terminal_failed == 1

    assert spine.ledger.retry_failed(1) == 1
    batch = spine.ledger.next_batch(1, 100, due_by=now_ms(), up_to=spine.ledger.high_water())
    assert [i.event.event_id for i in batch.items] == [events[0].event_id]
    spine.ledger.record(1, batch, results(batch, "success"))
    row = spine.rows(1)[events[0].event_id]
    assert (row["state"], row["attempts"], row["next_attempt_at"]) == ("success", 2, None)
    assert row["delivered_at"] is not None
    assert spine.ledger.counts(1) == TargetCounts(delivered=3)


def test_failed_permanent_again_after_retry_is_terminal_again(spine: Spine) -> None:
    spine.append(1)
    attempt(spine, 1, "failed_permanent")
    spine.ledger.retry_failed(1)
    attempt(spine, 1, "failed_permanent")
    assert spine.select(1).items == []
    assert next(iter(spine.rows(1).values()))["attempts"] == 2


def test_retry_failed_touches_only_terminal_failed_rows_of_that_target(spine: Spine) -> None:
    spine.append(4)
    for status in ("success", "failed_permanent", "failed_transient", "duplicate"):
        attempt(spine, 1, status, limit=1)
    attempt(spine, 2, "failed_permanent")
    assert spine.ledger.retry_failed(1) == 1
    assert spine.ledger.retry_failed(1) == 1
    assert [r["next_attempt_at"] is None for r in spine.rows(2).values()] == [True] * 4


def test_retry_now_skips_the_backoff(spine: Spine) -> None:
    spine.append(3)
    attempt(spine, 1, "failed_transient", limit=2)
    attempt(spine, 1, "success")
    assert spine.select(1, due_by=now_ms()).items == []
    assert spine.ledger.retry_now(1) == 2
    batch = spine.ledger.next_batch(1, 10, due_by=now_ms(), up_to=spine.ledger.high_water())
    assert len(batch.items) == 2
    assert spine.ledger.retry_now(1) == 0


def test_retry_all_keeps_every_row_and_reselects_everything(spine: Spine) -> None:
    events = spine.append(5)
    for status in ("success", "duplicate", "failed_permanent", "failed_transient"):
        attempt(spine, 1, status, limit=1)
    rows = spine.rows(1)
    assert spine.ledger.retry_all(1) == 4
    assert spine.rows(1).keys() == rows.keys(), "history is kept"
    batch = spine.select(1)
    assert [i.event.event_id for i in batch.items] == [e.event_id for e in events]
    assert [item.new for item in batch.items] == [False] * 4 + [True]


@pytest.mark.parametrize("status", ["success", "duplicate"])
def test_a_re_post_after_retry_all_settles_the_rows(spine: Spine, status: str) -> None:
    """Delivered rows made due again are updated by the re-post (the one-statement path for
    delivered outcomes included), so they are not selected for ever after."""
    spine.append(3)
    attempt(spine, 1, "success")
    assert spine.ledger.retry_all(1) == 3
    again = spine.select(1)
    spine.ledger.record(1, again, results(again, status))
    assert {(r["state"], r["attempts"], r["next_attempt_at"]) for r in spine.rows(1).values()} \
        == {(status, 2, None)}
    assert spine.select(1).items == []


def test_forget_reselects_everything(spine: Spine) -> None:
    events = spine.append(5)
    for status in ("success", "duplicate", "failed_permanent", "failed_transient"):
        attempt(spine, 1, status, limit=1)
    assert spine.ledger.cursor(1) > 0
    assert spine.ledger.forget(1) == 4
    assert spine.ledger.cursor(1) == 0
    assert spine.rows(1) == {}
    assert not spine.ledger.has_rows(1)
    batch = spine.select(1)
    assert [i.event.event_id for i in batch.items] == [e.event_id for e in events]
    assert all(item.new for item in batch.items)
    assert spine.ledger.counts(1) == TargetCounts(pending=5)


def test_attempts_count_and_first_attempt_is_kept(spine: Spine) -> None:
    spine.append(1)
    attempt(spine, 1, "failed_transient")
    first = next(iter(spine.rows(1).values()))
    for status in ("rejected", "pending", "failed_transient", "success"):
        attempt(spine, 1, status, due_by=FAR_FUTURE)
    row = next(iter(spine.rows(1).values()))
    assert row["attempts"] == 5
    assert row["first_attempt_at"] == first["first_attempt_at"]
    assert row["last_attempt_at"] >= first["last_attempt_at"]
    assert row["detail"] == ""


def test_detail_is_kept_and_bounded(spine: Spine) -> None:
    spine.append(1)
    batch = spine.select(1)
    spine.ledger.record(1, batch, results(batch, "rejected", "x" * 5000))
    assert next(iter(spine.rows(1).values()))["detail"] == "x" * 500


def test_a_delivered_row_is_never_downgraded_by_a_late_attempt(spine: Spine) -> None:
    """Two drains of one target that selected the same events: the later failure loses."""
    spine.append(2)
    first = spine.select(1)
    second = spine.select(1)
    spine.ledger.record(1, first, results(first, "success"))
    spine.ledger.record(1, second, results(second, "failed_transient"))
    for row in spine.rows(1).values():
        assert (row["state"], row["next_attempt_at"]) == ("success", None)
    assert spine.select(1).items == []
    assert spine.ledger.counts(1) == TargetCounts(delivered=2)


def test_missing_result_is_failed_transient(spine: Spine) -> None:
    events = spine.append(3)
    batch = spine.select(1)
    spine.ledger.record(1, batch, [DeliveryResult(events[1].event_id, S.SUCCESS)])
    states = {eid: row["state"] for eid, row in spine.rows(1).items()}
    assert states == {events[0].event_id: "failed_transient", events[1].event_id: "success",
                      events[2].event_id: "failed_transient"}


def test_cursor_moves_only_past_recorded_events(spine: Spine) -> None:
    events = spine.append(10)
    batch = spine.select(1, 4)
    assert spine.ledger.cursor(1) == 0
    assert [i.event.event_id for i in spine.select(1, 4).items] == \
        [e.event_id for e in events[:4]], "an unrecorded batch is selected again"
    spine.ledger.record(1, batch, results(batch, "success"))
    assert spine.ledger.cursor(1) == batch.cursor_after == batch.items[-1].seq
    assert [i.event.event_id for i in spine.select(1, 4).items] == \
        [e.event_id for e in events[4:8]]


def test_events_appended_after_up_to_are_not_selected(spine: Spine) -> None:
    early = spine.append(3, "A")
    bound = spine.ledger.high_water()
    spine.append(3, "B")
    batch = spine.select(1, up_to=bound)
    assert [i.event.event_id for i in batch.items] == [e.event_id for e in early]
    spine.ledger.record(1, batch, results(batch, "success"))
    assert spine.select(1, up_to=bound).items == []
    assert spine.ledger.counts(1).pending == 3


def test_due_retries_come_before_new_events(spine: Spine) -> None:
    events = spine.append(6)
    attempt(spine, 1, "failed_transient", limit=2)
    batch = spine.select(1, 3)
    assert [i.new for i in batch.items] == [False, False, True]
    assert {i.event.event_id for i in batch.items[:2]} == {events[0].event_id, events[1].event_id}
    assert batch.items[2].event.event_id == events[2].event_id
    assert batch.cursor_after == batch.items[-1].seq
    only_retries = spine.select(1, 2)
    assert [i.new for i in only_retries.items] == [False, False]
    assert only_retries.cursor_after is None


def test_due_retries_are_served_oldest_due_first(spine: Spine) -> None:
    events = spine.append(3)
    attempt(spine, 1, "failed_transient", limit=1, retry_after=250)
    attempt(spine, 1, "failed_transient", limit=1, retry_after=100)
    attempt(spine, 1, "failed_transient", limit=1, retry_after=200)
    order = [i.event.event_id for i in spine.select(1).items]
    assert order == [events[1].event_id, events[2].event_id, events[0].event_id]


def test_buried_events_are_skipped_new_or_due(spine: Spine) -> None:
    events = spine.append(6)
    attempt(spine, 1, "failed_transient", limit=2)
    spine.bury(events[0].event_id)
    spine.bury(events[3].event_id)
    batch = spine.select(1)
    assert [i.event.event_id for i in batch.items] == \
        [events[1].event_id, events[2].event_id, events[4].event_id, events[5].event_id]
    spine.ledger.record(1, batch, results(batch, "success"))
    assert spine.select(1).items == []
    assert spine.ledger.counts(1).pending == 0


def test_counts_are_exact_for_every_state(spine: Spine) -> None:
    spine.append(9)
    for status in ("success", "duplicate", "pending", "rejected", "failed_transient",
                   "failed_permanent"):
        attempt(spine, 1, status, limit=1)
    assert spine.ledger.counts(1) == TargetCounts(delivered=2, duplicate=1, pending=3,
                                                  retrying=3, terminal_failed=1)
    assert spine.ledger.counts(2) == TargetCounts(pending=9)
    spine.append(2, "late")
    assert spine.ledger.counts(1).pending == 5


def test_counts_on_an_empty_journal(spine: Spine) -> None:
    assert spine.ledger.counts(1) == TargetCounts()
    assert spine.ledger.high_water() == 0
    assert spine.select(1).items == []


def test_history_lists_every_targets_row_for_an_event(spine: Spine) -> None:
    spine.append(1)
    attempt(spine, 1, "success")
    attempt(spine, 2, "rejected")
    seq = spine.select(3).items[0].seq
    history = spine.ledger.history(seq)
    assert [(h["target_id"], h["state"], h["attempts"]) for h in history] == [
        (1, "success", 1), (2, "rejected", 1)]


def test_fan_out_targets_keep_independent_state(spine: Spine) -> None:
    first, second = spine.target("first"), spine.target("second")
    spine.append(20)
    attempt(spine, first.id, "success", limit=15)
    attempt(spine, second.id, "failed_transient", limit=5)
    before = spine.ledger.counts(second.id)
    rows_before = spine.rows(second.id)

    attempt(spine, first.id, "success")
    assert spine.ledger.counts(first.id) == TargetCounts(delivered=20)
    assert spine.ledger.counts(second.id) == before == TargetCounts(pending=15, retrying=5)
    assert spine.rows(second.id) == rows_before

    third = spine.target("third")
    while (batch := spine.select(third.id, 7)).items:
        spine.ledger.record(third.id, batch, results(batch, "success"))
    assert spine.ledger.counts(third.id) == TargetCounts(delivered=20)
    assert spine.ledger.counts(first.id) == TargetCounts(delivered=20)
    assert spine.rows(second.id) == rows_before
