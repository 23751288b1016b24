"""The dispatcher trusts no receiver: whatever one does, the ledger stays consistent."""

from __future__ import annotations

import pytest
from delivery_helpers import ScriptedReceiver, Spine

from eventsync.delivery import dispatcher
from eventsync.delivery.ledger import TargetCounts
from eventsync.delivery.sources import JournalSource
from eventsync.errors import ReceiverNotReady
from eventsync.events import Event, build_event
from eventsync.receivers import DeliveryResult, DeliveryStatus, StoredBatch, Target

S = DeliveryStatus


def run(spine: Spine, receiver: ScriptedReceiver, batch_size: int = 100
        ) -> dispatcher.DrainReport:
    source = JournalSource(spine.ledger, receiver.target.id)
    return dispatcher.drain(receiver, source, batch_size=batch_size)


def receiver_for(spine: Spine, script=None, *, name: str = "main",
                 options: dict[str, str] | None = None, url: str | None = None
                 ) -> ScriptedReceiver:
    return ScriptedReceiver(spine.target(name, url, options), script)


def states(spine: Spine, target: Target) -> dict[str, str]:
    return {eid: row["state"] for eid, row in spine.rows(target.id).items()}


def answer(status: DeliveryStatus, detail: str = ""):
    return lambda events: [DeliveryResult(e.event_id, status, detail) for e in events]


def raise_(exc: BaseException):
    def script(events):
        raise exc
    return script


def test_a_clean_drain_delivers_everything_once(spine: Spine) -> None:
    events = spine.append(250)
    receiver = receiver_for(spine)
    report = run(spine, receiver, batch_size=100)
    assert report.to_dict() == {"target": "main", "attempted": 250, "delivered": 250,
                                "duplicate": 0, "retrying": 0, "terminal_failed": 0,
                                "stopped": None, "remaining": 0, "last_error": None}
    assert [len(call) for call in receiver.calls] == [100, 100, 50]
    assert [eid for call in receiver.calls for eid in call] == [e.event_id for e in events]
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(delivered=250)
    assert len(spine.journal) == 250, "draining never removes an event"
    again = run(spine, receiver)
    assert again.attempted == 0


def test_a_raising_receiver_leaves_every_event_failed_transient(spine: Spine) -> None:
    spine.append(30)
    receiver = receiver_for(spine, raise_(ConnectionError("connection refused")))
    report = run(spine, receiver, batch_size=100)
    assert (report.attempted, report.retrying, report.delivered) == (30, 30, 0)
    rows = spine.rows(receiver.target.id)
    assert len(rows) == 30
    assert {r["state"] for r in rows.values()} == {"failed_transient"}
    assert {r["detail"] for r in rows.values()} == {"ConnectionError: connection refused"}
    assert all(r["next_attempt_at"] is not None for r in rows.values())
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(retrying=30)


def bad_status_script(events):
    return [DeliveryResult(e.event_id, "no-such-status") for e in events]


GARBAGE = {
    "none": lambda events: None,
    "dict": lambda events: {e.event_id: "success" for e in events},
    "string": lambda events: "success",
    "strings": lambda events: [e.event_id for e in events],
    "dicts": lambda events: [{"event_id": e.event_id, "status": "success"} for e in events],
    "unknown-ids": lambda events: [DeliveryResult("01ARZ3NDEKTSV4RRFFQ69G5FAV", S.SUCCESS)],
    "unhashable-id": lambda events: [DeliveryResult(["x"], S.SUCCESS)],  # type: ignore[arg-type]
    "empty": lambda events: [],
    "generator": lambda events: (DeliveryResult(e.event_id, S.SUCCESS) for e in events),
    "bad-status": bad_status_script,
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_results_become_one_failed_transient_row_per_event(spine: Spine,
                                                                   name: str) -> None:
    events = spine.append(5)
    receiver = receiver_for(spine, GARBAGE[name])
    report = run(spine, receiver)
    assert report.attempted == 5
    assert states(spine, receiver.target) == {e.event_id: "failed_transient" for e in events}


def test_partial_duplicate_and_foreign_results(spine: Spine) -> None:
    """First valid result per event wins; missing ones fail transiently; strangers are ignored."""
    events = spine.append(4)
    ids = [e.event_id for e in events]

    def script(sent):
        return [
            DeliveryResult(ids[0], S.SUCCESS),
            DeliveryResult(ids[0], S.FAILED_PERMANENT, "second answer for one id"),
            "garbage",
            DeliveryResult(ids[2], S.DUPLICATE),
            DeliveryResult("01ARZ3NDEKTSV4RRFFQ69G5FAV", S.SUCCESS),
            None,
        ]

    receiver = receiver_for(spine, script)
    report = run(spine, receiver)
    assert states(spine, receiver.target) == {
        ids[0]: "success", ids[1]: "failed_transient", ids[2]: "duplicate",
        ids[3]: "failed_transient"}
    assert (report.attempted, report.delivered, report.duplicate, report.retrying) == (4, 1, 1, 2)


def test_normalise_results_returns_one_result_per_event_in_order() -> None:
    events = [Event.from_json(_event_json(i)) for i in range(3)]
    receiver = ScriptedReceiver(Target("t", "scripted", "http://t.test"))
    raw = [DeliveryResult(events[2].event_id, S.REJECTED, "  multi\n line  ", retry_after=30),
           DeliveryResult(events[0].event_id, S.SUCCESS, retry_after=float("nan"))]
    normal = dispatcher.normalise_results([e.event_id for e in events], raw, receiver)
    assert [r.event_id for r in normal] == [e.event_id for e in events]
    assert [r.status for r in normal] == [S.SUCCESS, S.FAILED_TRANSIENT, S.REJECTED]
    assert normal[2].detail == "multi line"
    assert normal[2].retry_after == 30.0
    assert normal[0].retry_after is None


@pytest.mark.parametrize("retry_after", [-1, 0, True, "30", 10**6, float("inf")])
def test_nonsense_retry_after_is_dropped(retry_after) -> None:
    event = Event.from_json(_event_json(0))
    receiver = ScriptedReceiver(Target("t", "scripted", "http://t.test"))
    raw = [DeliveryResult(event.event_id, S.FAILED_TRANSIENT, retry_after=retry_after)]
    assert dispatcher.normalise_results([event.event_id], raw, receiver)[0].retry_after is None


def test_deliver_safely_turns_an_exception_into_results() -> None:
    events = [Event.from_json(_event_json(i)) for i in range(2)]
    receiver = ScriptedReceiver(Target("t", "scripted", "http://t.test"),
                                raise_(ValueError("boom")))
    batch = StoredBatch([e.event_id for e in events], [e.to_json() for e in events])
    out = dispatcher.deliver_safely(receiver, batch)
    assert [(r.event_id, r.status, r.detail) for r in out] == [
        (e.event_id, S.FAILED_TRANSIENT, "ValueError: boom") for e in events]


def test_not_ready_in_preflight_records_nothing(spine: Spine) -> None:
    spine.append(5)

    class Gated(ScriptedReceiver):
        def preflight(self) -> None:
            raise ReceiverNotReady("sync is not enabled for this team")

    receiver = Gated(spine.target())
    with pytest.raises(ReceiverNotReady, match="not enabled"):
        run(spine, receiver)
    assert receiver.calls == []
    assert spine.rows(receiver.target.id) == {}
    assert spine.ledger.cursor(receiver.target.id) == 0
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(pending=5)


def test_not_ready_during_deliver_propagates_and_that_batch_stays_due(spine: Spine) -> None:
    events = spine.append(10)

    def script(sent):
        if sent[0].event_id != events[0].event_id:
            raise ReceiverNotReady("token expired")
        return [DeliveryResult(e.event_id, S.SUCCESS) for e in sent]

    receiver = receiver_for(spine, script)
    with pytest.raises(ReceiverNotReady, match="token expired"):
        run(spine, receiver, batch_size=4)
    assert len(receiver.calls) == 2
    assert states(spine, receiver.target) == {e.event_id: "success" for e in events[:4]}
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(delivered=4, pending=6)


def test_an_oversize_event_is_terminal_failed_and_the_rest_is_delivered(spine: Spine) -> None:
    events = spine.append(9)
    too_big = events[4].event_id

    def script(sent):
        if any(e.event_id == too_big for e in sent) and len(sent) > 1:
            return [DeliveryResult(e.event_id, S.FAILED_TRANSIENT, "413: split and retry")
                    for e in sent]
        return [DeliveryResult(e.event_id, S.FAILED_PERMANENT if e.event_id == too_big
                               else S.SUCCESS, "413 payload too large"
                               if e.event_id == too_big else "") for e in sent]

    receiver = receiver_for(spine, script)
    report = run(spine, receiver, batch_size=1)
    assert (report.delivered, report.terminal_failed, report.stopped) == (8, 1, None)
    assert states(spine, receiver.target) == {
        e.event_id: "failed_permanent" if e.event_id == too_big else "success" for e in events}
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(delivered=8, terminal_failed=1)
    assert run(spine, receiver).attempted == 0, "terminal-failed is not selected again"


def test_one_failed_permanent_in_a_batch_does_not_hold_back_the_others(spine: Spine) -> None:
    events = spine.append(20)
    bad = {events[3].event_id, events[15].event_id}

    def script(sent):
        return [DeliveryResult(e.event_id, S.FAILED_PERMANENT if e.event_id in bad
                               else S.SUCCESS) for e in sent]

    receiver = receiver_for(spine, script)
    report = run(spine, receiver, batch_size=8)
    assert (report.attempted, report.delivered, report.terminal_failed) == (20, 18, 2)
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(delivered=18,
                                                                   terminal_failed=2)


def test_drain_stops_after_three_fully_failed_batches(spine: Spine) -> None:
    spine.append(100)
    receiver = receiver_for(spine, raise_(TimeoutError("read timed out")))
    report = run(spine, receiver, batch_size=10)
    assert len(receiver.calls) == dispatcher.UNREACHABLE_AFTER == 3
    assert report.stopped == "target unreachable: TimeoutError: read timed out"
    assert (report.attempted, report.retrying) == (30, 30)
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(pending=70, retrying=30)


def test_a_success_in_between_resets_the_unreachable_count(spine: Spine) -> None:
    spine.append(60)
    calls = []

    def script(sent):
        calls.append(1)
        status = S.SUCCESS if len(calls) % 3 == 0 else S.FAILED_TRANSIENT
        return [DeliveryResult(e.event_id, status) for e in sent]

    report = run(spine, receiver_for(spine, script), batch_size=10)
    assert report.stopped is None
    assert (report.attempted, report.delivered, report.retrying) == (60, 20, 40)


def test_rejected_batches_do_not_count_as_unreachable(spine: Spine) -> None:
    spine.append(50)
    report = run(spine, receiver_for(spine, answer(S.REJECTED)), batch_size=10)
    assert report.stopped is None
    assert report.retrying == 50


def test_secrets_in_receiver_errors_are_redacted(spine: Spine) -> None:
    spine.append(3)
    token = "tok-3f9a7c1d"
    receiver = receiver_for(spine, raise_(RuntimeError(f"401 for Bearer {token} at /api")),
                            options={"token": token, "team": "blue"})
    report = run(spine, receiver)
    details = {row["detail"] for row in spine.rows(receiver.target.id).values()}
    assert details == {"RuntimeError: 401 for Bearer *** at /api"}
    assert token not in (report.stopped or "")


def test_secrets_echoed_in_result_details_are_redacted(spine: Spine) -> None:
    spine.append(2)
    secret, password = "s3cr3t-header-value", "hunter2-pw"
    receiver = receiver_for(
        spine, answer(S.REJECTED, f"refused {secret} via http://bob:{password}@srv.test"),
        options={"header.X-Auth": secret}, url=f"http://bob:{password}@srv.test")
    run(spine, receiver)
    for row in spine.rows(receiver.target.id).values():
        assert secret not in row["detail"] and password not in row["detail"]
        assert row["detail"] == "refused *** via http://bob:***@srv.test"


def test_a_drain_ends_while_a_producer_keeps_appending(spine: Spine) -> None:
    spine.append(20, "before")
    appended = []

    def script(sent):
        appended.extend(spine.append(5, f"during{len(appended)}-"))
        return [DeliveryResult(e.event_id, S.SUCCESS) for e in sent]

    receiver = receiver_for(spine, script)
    report = run(spine, receiver, batch_size=5)
    assert report.attempted == 20
    assert len(appended) == 20
    assert spine.ledger.counts(receiver.target.id) == TargetCounts(delivered=20, pending=20)
    sent = {eid for call in receiver.calls for eid in call}
    assert not sent & {e.event_id for e in appended}


def test_failures_in_one_drain_wait_for_the_next(spine: Spine) -> None:
    """A drain never re-posts what failed during it: that waits for the backoff."""
    spine.append(10)
    receiver = receiver_for(spine, answer(S.PENDING))
    report = run(spine, receiver, batch_size=3)
    assert report.attempted == 10
    assert len(receiver.calls) == 4
    assert run(spine, receiver).attempted == 0


def test_fan_out_drain_of_a_second_target_leaves_the_first_untouched(spine: Spine) -> None:
    events = spine.append(40)
    first = receiver_for(spine, name="first")
    run(spine, first, batch_size=15)
    rows_first = spine.rows(first.target.id)
    second = receiver_for(spine, answer(S.DUPLICATE), name="second")
    report = run(spine, second, batch_size=15)
    assert report.duplicate == 40
    assert [eid for call in second.calls for eid in call] == [e.event_id for e in events]
    assert spine.rows(first.target.id) == rows_first
    assert spine.ledger.counts(second.target.id) == TargetCounts(delivered=40, duplicate=40)


def test_progress_sees_every_attempt(spine: Spine) -> None:
    spine.append(25)
    seen: list[int] = []
    receiver = receiver_for(spine)
    dispatcher.drain(receiver, JournalSource(spine.ledger, receiver.target.id), batch_size=10,
                     progress=seen.append)
    assert seen == [10, 10, 5]


def _event_json(i: int) -> str:
    return build_event({"event_type": "T", "aggregate_id": f"A{i}", "payload": {"i": i}}).to_json()
