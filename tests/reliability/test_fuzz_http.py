"""Whatever a receiver's server answers (any status, body, header, or a broken connection), the
batch client returns exactly one well-formed result per event and never raises; through the
dispatcher, the ledger then holds exactly one row per (target, event), and a delivered row is
never downgraded."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from reliability_helpers import FUZZ, HEAVY_FUZZ, JSONISH

from eventsync.delivery.batch_http import BatchClient, parse_retry_after
from eventsync.delivery.dispatcher import drain
from eventsync.delivery.ledger import Ledger, RetryPolicy
from eventsync.delivery.sources import JournalSource
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import ReceiverNotReady
from eventsync.events import Event, build_event
from eventsync.journal.journal import Journal
from eventsync.receivers import DeliveryStatus, Target
from eventsync.store import Store
from eventsync_stub.receiver import StubReceiver

BASE = "http://fuzz.test"
URL = BASE + BatchClient.BATCH_PATH
SECRET = "s3cr3t-T0KEN-value"
STATUS_WORDS = [s.value for s in DeliveryStatus] + ["", "SUCCESS", "ok", None, 1, ["success"]]
LATIN1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                 max_size=30)
RETRY_AFTER = st.one_of(
    st.none(), st.integers(0, 10**6).map(str), st.sampled_from([
        "²", "١٢", "-1", " 5 ", "1.5", "9" * 400, "0x10", "", "Wed, 21 Oct 2015 07:28:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 99999 00:00:00 GMT", "Tue, 32 Foo 2020",
        "Sun, 06 Nov 1994 08:49:37", "not a date",
    ]), LATIN1)
TRANSPORT_ERRORS = [requests.ConnectionError("refused"), requests.ReadTimeout("slow"),
                    requests.ConnectTimeout("no route"),
                    requests.exceptions.ChunkedEncodingError("cut"),
                    requests.exceptions.ContentDecodingError("gzip"),
                    requests.exceptions.InvalidHeader("bad")]


@st.composite
def replies(draw: st.DrawFn, sent_ids: list[str]) -> Any:
    """One answer to a POST that carried `sent_ids`: (status, headers, body) or an exception."""
    kind = draw(st.sampled_from(["results", "results", "results", "json", "bytes", "deep",
                                 "bigint", "transport"]))
    if kind == "transport":
        return draw(st.sampled_from(TRANSPORT_ERRORS))
    status = draw(st.one_of(st.sampled_from([200, 200, 200, 201, 204, 302, 400, 401, 403, 404,
                                             408, 413, 429, 500, 502, 503]),
                            st.integers(200, 599)))
    headers = {}
    retry_after = draw(RETRY_AFTER)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if kind == "results":
        body = json.dumps({"results": draw(result_items(sent_ids))})
    elif kind == "json":
        body = json.dumps(draw(JSONISH), default=repr)
    elif kind == "deep":
        body = "[" * 100_000 + "]" * 100_000
    elif kind == "bigint":
        body = '{"results": [], "code": ' + "7" * 5_000 + "}"
    else:
        body = draw(st.binary(max_size=60))
    return status, headers, body


@st.composite
def result_items(draw: st.DrawFn, sent_ids: list[str]) -> list[Any]:
    items: list[Any] = []
    for event_id in sent_ids:
        for _ in range(draw(st.integers(0, 2))):  # missing, once, or twice (first one wins)
            items.append({"event_id": event_id, "status": draw(st.sampled_from(STATUS_WORDS)),
                          "error": draw(st.one_of(st.none(), LATIN1, st.just(f"bad {SECRET}"),
                                                  st.just("x\n" * 400)))})
    extras = draw(st.lists(st.one_of(st.none(), st.integers(), LATIN1, st.fixed_dictionaries(
        {"event_id": st.one_of(LATIN1, st.integers()), "status": st.just("success")})),
        max_size=3))
    items += extras
    return draw(st.permutations(items))


def events(count: int) -> list[Event]:
    return [build_event({"event_type": "T", "aggregate_id": f"A{i}", "payload": {"i": i}})
            for i in range(count)]


def serve_from(data: st.DataObject, mock: responses.RequestsMock,
               healed: list[bool] | None = None) -> list[int]:
    """Answer every POST with a freshly drawn reply (or, once `healed[0]` is set, with success
    for every event); returns the list of batch sizes posted."""
    sizes: list[int] = []

    def answer(request: requests.PreparedRequest) -> Any:
        body = json.loads(request.body or b"{}")
        sent = [event["event_id"] for event in body.get("events", [])]
        sizes.append(len(sent))
        if healed and healed[0]:
            return 200, {}, json.dumps({"results": [{"event_id": event_id, "status": "success"}
                                                    for event_id in sent]})
        return data.draw(replies(sent))

    mock.add_callback(responses.POST, URL, callback=answer)
    mock.add_callback(responses.GET, BASE + BatchClient.HEALTH_PATH,
                      callback=lambda _request: data.draw(replies([])))
    return sizes


def assert_one_result_each(sent: list[Event], results: list[Any]) -> None:
    assert [r.event_id for r in results] == [e.event_id for e in sent]
    for result in results:
        assert isinstance(result.status, DeliveryStatus)
        assert isinstance(result.detail, str) and "\n" not in result.detail
        assert SECRET not in result.detail
        assert result.retry_after is None or result.retry_after >= 0
        assert result.retry_after is None or not math.isnan(result.retry_after)


@FUZZ
@given(data=st.data(), count=st.integers(1, 9))
def test_batch_client_gives_one_result_per_event_and_never_raises(data: st.DataObject,
                                                                   count: int) -> None:
    sent = events(count)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        sizes = serve_from(data, mock)
        with BatchClient(URL, headers={"Authorization": f"Bearer {SECRET}"},
                         timeout=1.0) as client:
            results = client.post_batch(sent)
            facts = client.get_json(BatchClient.HEALTH_PATH)
    assert_one_result_each(sent, results)
    assert sizes and sizes[0] == count
    assert facts is None or isinstance(facts, dict)


# -- through the dispatcher and the ledger ------------------------------------------------------


@pytest.fixture
def spine(tmp_path: Path) -> Iterator[Callable[[], tuple[Store, Journal, Ledger, Target]]]:
    """A fresh database per hypothesis example (the fixture itself is shared by them all)."""
    stores: list[Store] = []

    def fresh() -> tuple[Store, Journal, Ledger, Target]:
        if stores:
            stores[-1].close()
        store = Store(tmp_path / f"example-{len(stores)}.db")
        stores.append(store)
        target = TargetRegistry(store).add("fuzz", "stub", BASE, {"timeout": "1"})
        return store, Journal(store), Ledger(store, RetryPolicy(0.001, 0.002, 0.0)), target

    yield fresh
    for store in stores:
        store.close()


def ledger_rows(store: Store, target_id: int) -> list[tuple[str, str]]:
    return store.execute(
        "SELECT j.event_id, d.state FROM deliveries d JOIN journal j ON j.seq = d.seq"
        " WHERE d.target_id = ? ORDER BY d.seq", (target_id,)).fetchall()


@HEAVY_FUZZ
@given(data=st.data(), count=st.integers(1, 12), batch_size=st.integers(1, 5),
       drains=st.integers(1, 4))
def test_ledger_keeps_exactly_one_row_per_event_whatever_the_server_says(
        spine: Callable[[], tuple[Store, Journal, Ledger, Target]], data: st.DataObject,
        count: int, batch_size: int, drains: int) -> None:
    store, journal, ledger, target = spine()
    assert target.id is not None
    appended = journal.append_many(
        {"event_type": "T", "aggregate_id": f"A{i}", "payload": {"i": i}} for i in range(count))
    delivered: set[str] = set()
    healed = [False]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_from(data, mock, healed)
        for attempt in range(drains + 1):
            healed[0] = attempt == drains  # a final clean drain once the server behaves
            run_drain(ledger, target, batch_size)
            rows = ledger_rows(store, target.id)
            ids = [event_id for event_id, _ in rows]
            assert len(ids) == len(set(ids)), "a (target, event) pair has two ledger rows"
            assert set(ids) <= {row.event.event_id for row in journal.tail(10_000)}
            states = dict(rows)
            assert all(states[event_id] in ("success", "duplicate") for event_id in delivered)
            delivered |= {e for e, s in rows if s in ("success", "duplicate")}
            ledger.retry_now(target.id)
            ledger.retry_failed(target.id)
    # after the clean drain every event is delivered, each by exactly one row: none was lost
    assert {e.event_id for e in appended} <= delivered
    assert len(ledger_rows(store, target.id)) == len(delivered)


def run_drain(ledger: Ledger, target: Target, batch_size: int) -> None:
    """One drain with a fresh receiver; a server refusing credentials stops it, as it should."""
    assert target.id is not None
    receiver = StubReceiver(target)
    try:
        drain(receiver, JournalSource(ledger, target.id), batch_size=batch_size)
    except ReceiverNotReady as exc:
        assert "\n" not in str(exc) and SECRET not in str(exc)
    finally:
        receiver.close()


# -- regressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "³", "¹⁰", "١٢", "9" * 400])
def test_retry_after_of_unusual_digits_is_read_or_ignored_never_raised(value: str) -> None:
    """`"²".isdigit()` is true but `float("²")` raises: a server (or a proxy) sending a Latin-1
    superscript in Retry-After used to make `post_batch` raise instead of returning results."""
    seconds = parse_retry_after(value)
    assert seconds is None or (seconds >= 0 and math.isfinite(seconds))


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000,
                                  '{"results": ' + "[" * 100_000 + "]" * 100_000 + "}",
])
@pytest.mark.parametrize("status", [200, 401, 503])
def test_a_body_nested_too_deeply_fails_the_batch_transiently(body: str, status: int) -> None:
    """`json.loads` raises RecursionError (not ValueError) on deep nesting; it used to escape
    from `post_batch` and `get_json`."""
    sent = events(3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, URL, body=body, status=status)
        mock.add(responses.GET, BASE + BatchClient.HEALTH_PATH, body=body, status=status)
        with BatchClient(URL) as client:
            results = client.post_batch(sent)
            assert client.get_json(BatchClient.HEALTH_PATH) is None
    assert_one_result_each(sent, results)
    assert {r.status for r in results} == {DeliveryStatus.FAILED_TRANSIENT}
