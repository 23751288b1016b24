"""BatchClient against the real stub over loopback: the happy paths and real failures."""

from __future__ import annotations

import socket

import pytest
from support.events import make_events

import eventsync
from eventsync import DeliveryStatus as S
from eventsync.delivery.batch_http import AuthFailure

BATCH = "/api/v1/events/batch/"


def client_for(server, **kwargs) -> eventsync.BatchClient:
    return eventsync.BatchClient(server.url + BATCH, **kwargs)


def test_posts_a_batch_and_maps_each_result_in_order(stub_server):
    server = stub_server(reject_types=["Spam"], max_event_bytes=2000)
    events = [*make_events(3), *make_events(1, event_type="Spam", prefix="S"),
              *make_events(1, pad=3000, prefix="BIG")]
    with client_for(server) as client:
        results = client.post_batch(events)
        again = client.post_batch(events[:2])
    assert [r.event_id for r in results] == [e.event_id for e in events]
    assert [r.status for r in results] == [S.SUCCESS] * 3 + [S.REJECTED, S.FAILED_PERMANENT]
    assert "2000-byte limit" in results[4].detail
    assert [r.status for r in again] == [S.DUPLICATE, S.DUPLICATE]
    assert [e["event_id"] for e in server.events()] == [e.event_id for e in events[:3]]


def test_an_empty_batch_posts_nothing(stub_server):
    server = stub_server()
    assert client_for(server).post_batch([]) == []
    assert server.app.batch_requests == 0


def test_gzipped_bodies_arrive_intact(stub_server):
    server = stub_server()
    events = make_events(50, pad=100)
    client = client_for(server, gzip_min_bytes=1024)
    assert {r.status for r in client.post_batch(events)} == {S.SUCCESS}
    assert [e["payload"] for e in server.events()] == [e.payload for e in events]


def test_413_splits_until_everything_that_fits_is_delivered(stub_server):
    server = stub_server(max_body_bytes=2500)
    events = make_events(40)
    events.insert(17, make_events(1, pad=4000, prefix="BIG")[0])
    results = client_for(server).post_batch(events)
    statuses = {r.event_id: r.status for r in results}
    assert statuses.pop(events[17].event_id) is S.FAILED_PERMANENT
    assert set(statuses.values()) == {S.SUCCESS}
    assert len(server.events()) == 40
    assert server.app.batch_requests > 2


def test_503_is_transient_with_the_servers_retry_after(stub_server):
    server = stub_server(fail_every=1)
    results = client_for(server).post_batch(make_events(3))
    assert {(r.status, r.retry_after) for r in results} == {(S.FAILED_TRANSIENT, 1.0)}
    assert results[0].detail.startswith("HTTP 503")


def test_a_dropped_response_is_transient_and_the_repost_is_duplicate(stub_server):
    server = stub_server(drop_every=2)
    client = client_for(server)
    assert client.post_batch(make_events(1, prefix="A"))[0].status is S.SUCCESS
    events = make_events(4)
    first = client.post_batch(events)
    assert {r.status for r in first} == {S.FAILED_TRANSIENT}
    assert first[0].detail == "connection failed: the server closed the connection mid-response"
    assert {r.status for r in client.post_batch(events)} == {S.DUPLICATE}


def test_a_slow_server_is_a_read_timeout(stub_server):
    server = stub_server(latency_ms=400)
    results = client_for(server, timeout=(5, 0.1)).post_batch(make_events(2))
    assert {r.status for r in results} == {S.FAILED_TRANSIENT}
    assert results[0].detail == "read timeout after 0.1s"


def test_connection_refused_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = eventsync.BatchClient(f"http://127.0.0.1:{port}{BATCH}", timeout=(2, 2))
    results = client.post_batch(make_events(2))
    assert [(r.status, r.detail) for r in results] == [
        (S.FAILED_TRANSIENT, "connection failed: connection refused")] * 2
    assert client.get_json("/api/v1/sync/health/") is None


def test_refused_credentials_set_auth_failure_until_accepted(stub_server):
    server = stub_server(auth_token="tok-123456")
    client = client_for(server, headers={"Authorization": "Bearer wrong-token-value"})
    results = client.post_batch(make_events(2))
    assert {r.status for r in results} == {S.FAILED_TRANSIENT}
    assert "HTTP 401" in results[0].detail and "wrong-token" not in results[0].detail
    assert client.auth_failure == AuthFailure(401, "unauthorized")
    with pytest.raises(eventsync.ReceiverNotReady, match="refused the credentials"):
        client.check_ready()
    good = client_for(server, headers={"Authorization": "Bearer tok-123456"})
    assert {r.status for r in good.post_batch(make_events(2))} == {S.SUCCESS}
    good.check_ready()


def test_private_teamspace_is_reported_with_its_code(stub_server):
    server = stub_server(private_teamspace=True)
    client = client_for(server)
    results = client.post_batch(make_events(1))
    assert results[0].status is S.FAILED_TRANSIENT
    assert client.auth_failure.code == "private_teamspace"
    with pytest.raises(eventsync.ReceiverNotReady, match="private_teamspace"):
        client.check_ready()


def test_get_json_reads_health_and_returns_none_on_404(stub_server):
    server = stub_server(instance_id="inst-1")
    client = client_for(server)
    assert client.get_json("/api/v1/sync/health/")["server_instance_id"] == "inst-1"
    assert client.get_json(server.url + "/api/v1/sync/health/")["deployment_id"]
    assert client.get_json("/no/such/path") is None
