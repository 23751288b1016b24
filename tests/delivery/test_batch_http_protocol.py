"""BatchClient and the Teamspace words: status words, 400 details and bisection, oversize
words, 412, limits and Retry-After forms, scripted with `responses`, asserting what was sent."""

from __future__ import annotations

import email.utils
import gzip
import json

import pytest
import responses
from support.events import make_events

import eventsync
from eventsync import BatchClient
from eventsync import DeliveryStatus as S
from eventsync.delivery.batch_http import ProtocolRefused, parse_retry_after, split_batch
from eventsync.events import build_event

URL = "https://api.example.test/api/v1/events/batch/"
TERMINAL = ("project_not_admitted", "project_not_consented", "project_refused")


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def sent(call) -> list[dict]:
    body = call.request.body
    if call.request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)["events"]


def sent_ids(call) -> list[str]:
    return [e["event_id"] for e in sent(call)]


def wp_events(groups: list[tuple[str, int]]) -> list:
    events = []
    for wp, count in groups:
        events += [build_event({"event_type": "WPStatusChanged", "aggregate_id": wp,
                                "payload": {"wp_id": wp, "n": i}}) for i in range(count)]
    return events


@pytest.mark.parametrize(("word", "status"), [
    ("success", S.SUCCESS), ("accepted", S.SUCCESS), ("warning", S.SUCCESS),
    ("ACCEPTED", S.SUCCESS), ("duplicate", S.DUPLICATE), ("queued", S.PENDING),
    ("pending", S.PENDING), ("rejected", S.REJECTED), ("failed_permanent", S.FAILED_PERMANENT),
    ("exploded", S.FAILED_TRANSIENT),
])
def test_status_words(mocked, word, status):
    event = make_events(1)[0]
    mocked.post(URL, json={"results": [{"event_id": event.event_id, "status": word,
                                        "error_message": "the server's words"}]})
    result = BatchClient(URL).post_batch([event])[0]
    assert result.status is status
    if status is not S.FAILED_TRANSIENT:
        assert result.detail == "the server's words"


@pytest.mark.parametrize("field", ["error_category", "category", "code"])
@pytest.mark.parametrize("category", [*TERMINAL, "PROJECT_REFUSED"])
def test_rejected_with_a_terminal_category_is_failed_permanent(mocked, field, category):
    events = make_events(2)
    mocked.post(URL, json={"results": [
        {"event_id": events[0].event_id, "status": "rejected", field: category,
         "error_message": "not admitted here"},
        {"event_id": events[1].event_id, "status": "rejected", field: "schema_invalid",
         "error": "bad field"}]})
    first, second = BatchClient(URL, terminal_categories=TERMINAL).post_batch(events)
    assert first.status is S.FAILED_PERMANENT
    assert first.detail == f"{category.lower()}: not admitted here"
    assert (second.status, second.detail) == (S.REJECTED, "bad field")


def test_without_declared_categories_rejected_stays_retryable(mocked):
    event = make_events(1)[0]
    mocked.post(URL, json={"results": [{"event_id": event.event_id, "status": "rejected",
                                        "error_category": "project_refused"}]})
    assert BatchClient(URL).post_batch([event])[0].status is S.REJECTED


@pytest.mark.parametrize("as_string", [False, True])
def test_400_with_details_rejects_those_and_retries_the_rest(mocked, as_string):
    events = make_events(4)
    details = [{"event_id": events[1].event_id, "detail": "payload.status is required"},
               {"event_id": events[3].event_id, "error": "refused",
                "error_category": "project_not_consented"},
               {"event_id": "not-ours", "detail": "x"}]
    mocked.post(URL, status=400, json={"error": "validation failed",
                                       "details": json.dumps(details) if as_string else details})
    results = BatchClient(URL, terminal_categories=TERMINAL).post_batch(events)
    assert [r.status for r in results] == [S.FAILED_TRANSIENT, S.REJECTED, S.FAILED_TRANSIENT,
                                           S.FAILED_PERMANENT]
    assert results[1].detail == "payload.status is required"
    assert results[3].detail == "project_not_consented: refused"
    assert "other events" in results[0].detail
    assert len(mocked.calls) == 1


def test_400_without_details_bisects_down_to_the_poison_event(mocked):
    events = wp_events([("WP01", 3), ("WP02", 2), ("WP03", 3)])
    poison = events[6].event_id

    def answer(request):
        ids = [e["event_id"] for e in json.loads(request.body)["events"]]
        if poison in ids:
            return 400, {}, json.dumps({"error": "invalid event"})
        return 200, {}, json.dumps({"results": [{"event_id": i, "status": "success"}
                                                for i in ids]})

    mocked.add_callback(responses.POST, URL, callback=answer)
    results = BatchClient(URL).post_batch(events)
    assert [r.status for r in results] == [S.SUCCESS] * 6 + [S.REJECTED, S.SUCCESS]
    assert results[6].detail == "HTTP 400: invalid event"
    posted = [sent(call) for call in mocked.calls]
    # the cut nearest the middle that parts no work package, left half first
    assert [[e["payload"]["wp_id"] for e in part] for part in posted[:4]] == [
        ["WP01"] * 3 + ["WP02"] * 2 + ["WP03"] * 3, ["WP01"] * 3,
        ["WP02"] * 2 + ["WP03"] * 3, ["WP02"] * 2]
    assert all(len({e["payload"]["wp_id"] for e in part}) == 1 for part in posted[3:])


def test_split_keeps_work_packages_together_and_always_progresses():
    left, right = split_batch(wp_events([("A", 1), ("B", 4), ("C", 1)]))
    assert ([e.payload["wp_id"] for e in left], [e.payload["wp_id"] for e in right]) == (
        ["A"], ["B"] * 4 + ["C"])
    left, right = split_batch(wp_events([("A", 5)]))
    assert (len(left), len(right)) == (2, 3)
    left, right = split_batch(make_events(5))
    assert (len(left), len(right)) == (2, 3)


@pytest.mark.parametrize("body", [
    {"error": "sync_batch_too_large"}, {"error_code": "request_too_large"},
    {"message": "Payload Too Large"}, {"error": "batch oversized"},
])
def test_oversize_words_on_a_4xx_halve_like_413(mocked, body):
    events = make_events(4)

    def answer(request):
        ids = [e["event_id"] for e in json.loads(request.body)["events"]]
        if len(ids) > 1:
            return 400, {}, json.dumps(body)
        return 200, {}, json.dumps({"results": [{"event_id": ids[0], "status": "success"}]})

    mocked.add_callback(responses.POST, URL, callback=answer)
    results = BatchClient(URL).post_batch(events)
    assert {r.status for r in results} == {S.SUCCESS}
    assert [len(sent_ids(c)) for c in mocked.calls] == [4, 2, 1, 1, 2, 1, 1]


@pytest.mark.parametrize(("body", "shown"), [
    ({"error_code": "client-too-old", "sync_protocol": {"upgrade_guidance": "Upgrade to 3.3"},
      "error_description": "old"}, "(HTTP 412 client-too-old): Upgrade to 3.3"),
    ({"error_description": "protocol 2.0 is retired"},
     "(HTTP 412 protocol_mismatch): protocol 2.0 is retired"),
])
def test_412_sets_a_protocol_refusal_with_the_guidance(mocked, body, shown):
    events = make_events(3)
    mocked.post(URL, status=412, json=body)
    client = BatchClient(URL)
    results = client.post_batch(events)
    assert {r.status for r in results} == {S.FAILED_TRANSIENT}
    with pytest.raises(ProtocolRefused, match=shown.replace("(", r"\(").replace(")", r"\)")):
        client.check_ready()
    assert isinstance(client.refused, eventsync.ReceiverNotReady)


def post_events(client: BatchClient, events: list, how: str) -> list:
    """Post as an `Event` list, or as the journal's stored batch (never decoded)."""
    if how == "events":
        return client.post_batch(events)
    return client.post_stored(eventsync.StoredBatch([e.event_id for e in events],
                                                    [e.to_json() for e in events]))


def answer_success(request):
    return 200, {}, json.dumps({"results": [{"event_id": e["event_id"], "status": "success"}
                                            for e in json.loads(gzip.decompress(request.body)
                                                                if request.body[:2] == b"\x1f\x8b"
                                                                else request.body)["events"]]})


@pytest.mark.parametrize("how", ["events", "stored"])
def test_limits_split_by_count_and_uncompressed_bytes(mocked, how):
    events = make_events(10, pad=100)
    size = len(events[0].to_json())
    mocked.add_callback(responses.POST, URL, callback=answer_success)
    client = BatchClient(URL, gzip_min_bytes=0, max_events=4, max_bytes=13 + 3 * size + 2)
    assert {r.status for r in post_events(client, events, how)} == {S.SUCCESS}
    assert [len(sent_ids(c)) for c in mocked.calls] == [3, 3, 3, 1]
    for call in mocked.calls:
        assert len(gzip.decompress(call.request.body)) <= client.max_bytes
    assert [e["event_id"] for c in mocked.calls for e in sent(c)] == [e.event_id for e in events]
    client.max_bytes = None
    mocked.calls.reset()
    post_events(client, events, how)
    assert [len(sent_ids(c)) for c in mocked.calls] == [4, 4, 2]


@pytest.mark.parametrize("how", ["events", "stored"])
def test_an_event_over_the_byte_limit_alone_is_failed_permanent_and_never_sent(mocked, how):
    events = [*make_events(2), *make_events(1, pad=5000, prefix="BIG"), *make_events(
        1, prefix="LAST")]
    mocked.add_callback(responses.POST, URL, callback=answer_success)
    results = post_events(BatchClient(URL, max_bytes=2000), events, how)
    assert [r.event_id for r in results] == [e.event_id for e in events]
    assert [r.status for r in results] == [S.SUCCESS, S.SUCCESS, S.FAILED_PERMANENT, S.SUCCESS]
    assert "at most 2000 bytes per request" in results[2].detail
    assert [sent_ids(c) for c in mocked.calls] == [[e.event_id for e in events[:2]]
                                                   + [events[3].event_id]]


def test_a_stored_part_refused_whole_answers_the_parts_not_yet_sent(mocked):
    """After a 503 to the first part, the parts not yet sent share it, never posted."""
    events = make_events(9, pad=100)
    mocked.post(URL, status=503, headers={"Retry-After": "7"})
    client = BatchClient(URL, max_events=3)
    results = post_events(client, events, "stored")
    assert len(mocked.calls) == 1
    assert {(r.status, r.retry_after) for r in results} == {(S.FAILED_TRANSIENT, 7.0)}
    assert [r.event_id for r in results] == [e.event_id for e in events]


@pytest.mark.parametrize("form", [
    "Wed, 21 Oct 2015 07:28:00 GMT",   # IMF-fixdate
    "Wednesday, 21-Oct-15 07:28:00 GMT",  # RFC 850
    "Wed Oct 21 07:28:00 2015",        # asctime: no zone, means GMT
])
def test_retry_after_http_dates_in_every_form(form):
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:27:00 GMT").timestamp()
    assert parse_retry_after(form, now) == 60.0
