"""`eventsync stub serve` as a real subprocess: the first line, signals, options, errors."""

from __future__ import annotations

import signal
import subprocess

import pytest
import requests
from support.events import make_events

BATCH = "/api/v1/events/batch/"


def post(url: str, events, **kwargs) -> requests.Response:
    body = '{"events":[' + ",".join(e.to_json() for e in events) + "]}"
    return requests.post(url + BATCH, data=body, timeout=10, **kwargs)


def own_lines(stderr: str) -> list[str]:
    """stderr without other installed plugins' load warnings, which are not ours to judge."""
    return [line for line in stderr.splitlines()
            if not line.startswith("eventsync: warning: plugin")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_first_and_exits_cleanly_on_a_signal(serve, sig):
    server = serve("--port", "0")
    assert server.first_line.startswith("listening on http://127.0.0.1:")
    assert int(server.url.rsplit(":", 1)[1]) > 0
    assert post(server.url, make_events(2)).json()["results"][0]["status"] == "success"
    code, out, err = server.stop(sig)
    assert (code, out) == (0, "")
    assert "Traceback" not in err and "loopback" not in err


def test_serve_with_faults_and_a_database(serve, tmp_path):
    db = tmp_path / "received.db"
    args = ("--db", str(db), "--reject-type", "Spam", "--max-event-bytes", "2000",
            "--fail-every", "3", "--instance-id", "inst-7", "--git-sha", "cafe")
    first = serve(*args)
    events = [*make_events(2), *make_events(1, event_type="Spam", prefix="S"),
              *make_events(1, pad=3000, prefix="BIG")]
    results = post(first.url, events).json()["results"]
    assert [r["status"] for r in results] == ["success", "success", "rejected",
                                              "failed_permanent"]
    assert post(first.url, events[:1]).status_code == 200
    assert post(first.url, events[:1]).status_code == 503
    health = requests.get(first.url + "/api/v1/sync/health/", timeout=10).json()
    assert (health["server_instance_id"], health["git_sha"]) == ("inst-7", "cafe")
    assert first.stop()[0] == 0
    second = serve("--db", str(db))
    assert [r["status"] for r in post(second.url, events[:2]).json()["results"]] == [
        "duplicate", "duplicate"]
    listing = requests.get(second.url + "/_stub/events", timeout=10).json()
    assert listing["count"] == 2
    assert requests.get(second.url + "/api/v1/sync/health/", timeout=10).json()[
        "server_instance_id"] != "inst-7"


def test_serve_requires_the_token_from_the_named_variable(serve):
    server = serve("--auth-token-env", "STUB_TOKEN", "--drop-every", "5", "--latency-ms", "1",
                   "--max-body-bytes", "100000", env={"STUB_TOKEN": "t0ken-value"})
    assert post(server.url, make_events(1)).status_code == 401
    ok = post(server.url, make_events(1), headers={"Authorization": "Bearer t0ken-value"})
    assert ok.status_code == 200
    code, out, err = server.stop()
    assert code == 0 and "t0ken-value" not in out + err


def test_serve_private_teamspace(serve):
    server = serve("--private-teamspace")
    reply = post(server.url, make_events(1))
    assert (reply.status_code, reply.json()) == (403, {
        "code": "private_teamspace", "error": "this teamspace is private; sync is not allowed"})


def test_serve_warns_when_bound_to_a_non_loopback_address(serve):
    server = serve("--host", "0.0.0.0")
    assert server.first_line.startswith("listening on http://0.0.0.0:")
    code, _, err = server.stop()
    assert code == 0
    assert "not a loopback address" in err


def test_serve_refuses_an_unset_token_variable_in_one_line(eventsync_bin, home, monkeypatch):
    monkeypatch.delenv("NO_SUCH_STUB_TOKEN", raising=False)
    done = subprocess.run([eventsync_bin, "stub", "serve", "--auth-token-env",
                           "NO_SUCH_STUB_TOKEN"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert own_lines(done.stderr) == [
        "eventsync: error: --auth-token-env: environment variable NO_SUCH_STUB_TOKEN is not set"]


def test_serve_reports_a_port_in_use_in_one_line(eventsync_bin, home, stub_server):
    busy = stub_server()
    done = subprocess.run([eventsync_bin, "stub", "serve", "--port", str(busy.port)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    lines = own_lines(done.stderr)
    assert len(lines) == 1
    assert lines[0].startswith(f"eventsync: error: cannot listen on 127.0.0.1:{busy.port}")
