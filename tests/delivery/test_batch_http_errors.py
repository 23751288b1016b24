"""BatchClient against every error shape a server can produce, scripted with `responses`."""

from __future__ import annotations

import email.utils
import gzip
import json
import time

import pytest
import requests
import responses
from support.events import make_events

from eventsync import BatchClient
from eventsync import DeliveryStatus as S
from eventsync.delivery.batch_http import parse_retry_after

URL = "https://api.example.test/api/v1/events/batch/"
TOKEN = "Bearer sk-live-0123456789"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def client(**kwargs) -> BatchClient:
    return BatchClient(URL, headers={"Authorization": TOKEN}, **kwargs)


def sent_ids(request) -> list[str]:
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return [e["event_id"] for e in json.loads(body)["events"]]


def only(results, status, detail_part=""):
    assert {r.status for r in results} == {status}
    assert all(detail_part in r.detail for r in results), results[0].detail
    assert all("sk-live" not in r.detail for r in results)


def test_request_body_is_the_stored_canonical_json_spliced(mocked):
    events = make_events(3)
    mocked.post(URL, json={"results": [{"event_id": e.event_id, "status": "success"}
                                       for e in events]})
    client().post_batch(events)
    request = mocked.calls[0].request
    assert request.body == ('{"events":[' + ",".join(e.to_json() for e in events) + "]}").encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == TOKEN


def test_results_are_matched_by_event_id_not_position(mocked):
    events = make_events(3)
    mocked.post(URL, json={"results": [
        {"event_id": events[2].event_id, "status": "pending", "error": "queued"},
        {"event_id": "someone-else", "status": "success"},
        {"event_id": events[0].event_id, "status": "duplicate"},
        {"event_id": events[0].event_id, "status": "rejected"},
        {"status": "success"}, "junk",
    ]})
    results = client().post_batch(events)
    assert [(r.event_id, r.status) for r in results] == [
        (events[0].event_id, S.DUPLICATE), (events[1].event_id, S.FAILED_TRANSIENT),
        (events[2].event_id, S.PENDING)]
    assert results[1].detail == "no result for this event in the answer"
    assert results[2].detail == "queued"


def test_an_unknown_status_is_transient(mocked):
    event = make_events(1)[0]
    mocked.post(URL, json={"results": [{"event_id": event.event_id, "status": "maybe"}]})
    only(client().post_batch([event]), S.FAILED_TRANSIENT, "unknown status 'maybe'")


@pytest.mark.parametrize(("body", "detail"), [
    (b"<html>oops</html>", "not JSON"),
    (b'{"results": {"a": 1}}', '"results" list'),
    (b'[{"event_id": "x", "status": "success"}]', '"results" list'),
    (b"{}", '"results" list'),
])
def test_a_200_that_is_not_the_contract_shape_is_transient(mocked, body, detail):
    mocked.post(URL, body=body, status=200)
    only(client().post_batch(make_events(2)), S.FAILED_TRANSIENT, detail)


def test_401_is_transient_and_sets_auth_failure(mocked):
    mocked.post(URL, status=401, json={"code": "token_expired", "detail": TOKEN})
    c = client()
    only(c.post_batch(make_events(2)), S.FAILED_TRANSIENT, "HTTP 401")
    assert (c.auth_failure.status, c.auth_failure.code) == (401, "token_expired")


def test_403_private_teamspace_and_a_later_success_clears_it(mocked):
    event = make_events(1)[0]
    mocked.post(URL, status=403, json={"code": "private_teamspace"})
    mocked.post(URL, json={"results": [{"event_id": event.event_id, "status": "success"}]})
    c = client()
    only(c.post_batch([event]), S.FAILED_TRANSIENT, "code private_teamspace")
    assert c.auth_failure.reason == (
        "the server forbids this client (HTTP 403, code private_teamspace)")
    assert c.post_batch([event])[0].status is S.SUCCESS
    assert c.auth_failure is None


def test_a_refused_code_that_is_not_a_plain_token_is_not_repeated(mocked):
    mocked.post(URL, status=403, json={"code": f"echo {TOKEN}"})
    c = client()
    c.post_batch(make_events(1))
    assert c.auth_failure.code == ""


def test_413_splits_in_halves_down_to_the_one_oversized_event(mocked):
    events = make_events(7)
    big = events[5].event_id

    def answer(request):
        ids = sent_ids(request)
        if big in ids:
            return 413, {}, json.dumps({"error": "too large"})
        return 200, {}, json.dumps({"results": [{"event_id": i, "status": "success"}
                                                for i in ids]})

    mocked.add_callback(responses.POST, URL, callback=answer)
    results = client().post_batch(events)
    assert [r.status for r in results] == [S.SUCCESS] * 5 + [S.FAILED_PERMANENT, S.SUCCESS]
    assert "HTTP 413" in results[5].detail
    sizes = [len(sent_ids(call.request)) for call in mocked.calls]
    assert sizes == [7, 3, 4, 2, 2, 1, 1]


def test_a_failure_during_splitting_is_shared_by_the_halves_not_yet_sent(mocked):
    events = make_events(4)
    mocked.post(URL, status=413)
    mocked.post(URL, status=503, headers={"Retry-After": "7"})
    results = client().post_batch(events)
    assert len(mocked.calls) == 2
    only(results, S.FAILED_TRANSIENT, "HTTP 503")
    assert {r.retry_after for r in results} == {7.0}


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_transient(mocked, code):
    mocked.post(URL, status=code)
    results = client().post_batch(make_events(2))
    only(results, S.FAILED_TRANSIENT, f"HTTP {code}")
    assert results[0].retry_after is None


def test_429_with_delta_seconds_retry_after(mocked):
    mocked.post(URL, status=429, headers={"Retry-After": "120"})
    results = client().post_batch(make_events(2))
    assert {r.retry_after for r in results} == {120.0}
    assert "retry after 120s" in results[0].detail


def test_429_with_an_http_date_retry_after(mocked):
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    mocked.post(URL, status=429, headers={"Retry-After": when})
    retry_after = client().post_batch(make_events(1))[0].retry_after
    assert 60 < retry_after <= 90


@pytest.mark.parametrize(("value", "expected"), [
    ("30", 30.0), (" 0 ", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
    ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0), ("-5", None), ("1.5", None), ("soon", None),
    ("", None), (None, None), ("Wed, 99 Foo 2015 07:28:00 GMT", None),
])
def test_parse_retry_after(value, expected):
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:27:00 GMT").timestamp()
    assert parse_retry_after(value, now) == expected


def test_garbage_retry_after_is_ignored(mocked):
    mocked.post(URL, status=503, headers={"Retry-After": "whenever"})
    assert client().post_batch(make_events(1))[0].retry_after is None


@pytest.mark.parametrize(("exc", "detail"), [
    (requests.exceptions.ConnectTimeout("boom " + TOKEN), "connect timeout after 3s"),
    (requests.exceptions.ReadTimeout("boom " + TOKEN), "read timeout after 9s"),
    (requests.exceptions.ConnectionError("refused " + URL + "?token=" + TOKEN),
     "connection failed: ConnectionError"),
    (requests.exceptions.SSLError("bad cert"), "connection failed: SSLError"),
    (requests.exceptions.TooManyRedirects(), "request failed: TooManyRedirects"),
])
def test_transport_errors_are_transient_and_say_what_happened(mocked, exc, detail):
    mocked.post(URL, body=exc)
    c = client(timeout=(3, 9))
    results = c.post_batch(make_events(2))
    assert [r.detail for r in results] == [detail] * 2
    only(results, S.FAILED_TRANSIENT)
    assert "sk-live" not in repr(c)


def test_redirects_are_not_followed(mocked):
    mocked.post(URL, status=307, headers={"Location": "https://elsewhere.test/"})
    results = client().post_batch(make_events(1))
    only(results, S.FAILED_TRANSIENT, "redirects are not followed")
    assert len(mocked.calls) == 1


def test_server_text_echoing_our_headers_is_masked(mocked):
    event = make_events(1)[0]
    mocked.post(URL, json={"results": [{"event_id": event.event_id, "status": "rejected",
                                        "error": f"bad header {TOKEN}\nsecond line"}]})
    result = client().post_batch([event])[0]
    assert result.detail == "bad header *** second line"


def test_gzip_only_above_the_threshold(mocked):
    small, large = make_events(1), make_events(30, pad=200)
    for batch in (small, large):
        mocked.post(URL, json={"results": [{"event_id": e.event_id, "status": "success"}
                                           for e in batch]})
    c = client(gzip_min_bytes=2048)
    c.post_batch(small)
    c.post_batch(large)
    first, second = (call.request for call in mocked.calls)
    assert "Content-Encoding" not in first.headers
    assert second.headers["Content-Encoding"] == "gzip"
    assert sent_ids(second) == [e.event_id for e in large]


def test_ndjson_posts_one_event_per_line_and_a_2xx_means_all_accepted(mocked):
    events = make_events(3)
    mocked.post(URL, status=202)
    results = client().post_ndjson(events)
    assert {r.status for r in results} == {S.SUCCESS}
    assert mocked.calls[0].request.body.decode().splitlines() == [e.to_json() for e in events]
    assert mocked.calls[0].request.headers["Content-Type"] == "application/x-ndjson"


def test_get_json_is_none_for_errors_and_non_objects(mocked):
    health = "https://api.example.test/api/v1/sync/health/"
    mocked.get(health, json=["a"])
    assert client().get_json("/api/v1/sync/health/") is None
    mocked.replace(responses.GET, health, body=b"nope")
    assert client().get_json("/api/v1/sync/health/") is None
    mocked.replace(responses.GET, health, body=requests.exceptions.ReadTimeout())
    assert client().get_json(health) is None
    mocked.replace(responses.GET, health, status=403, json={"code": "private_teamspace"})
    c = client()
    assert c.get_json(health) is None
    assert c.auth_failure is None and c.refused is None  # a probe never closes the gate
    c.check_ready()


def test_a_session_passed_in_is_used_and_left_open(mocked):
    session = requests.Session()
    mocked.post(URL, status=500)
    with BatchClient(URL, session=session) as c:
        c.post_batch(make_events(1))
    assert len(mocked.calls) == 1
    assert session.adapters  # still usable: close() left it alone
    mocked.get("https://api.example.test/x", json={})
    assert session.get("https://api.example.test/x").json() == {}
