"""Network exposure: the stub server binds loopback unless told otherwise and says so when it is
not; receivers refuse plain http to another machine unless `allow_insecure=true`."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import count_rows, one_line_error

from eventsync.home import DB_NAME
from eventsync_stub.server import StubServer


@pytest.fixture
def serve(eventsync_bin: str, home: Path) -> Iterator[Callable[..., tuple[str, str]]]:
    """Start `eventsync stub serve ARGS`; returns (first stdout line, stderr after SIGTERM)."""
    procs: list[subprocess.Popen[str]] = []

    def run(*args: str) -> tuple[str, str]:
        proc = subprocess.Popen([eventsync_bin, "stub", "serve", *args], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        return first, err

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stub_serve_binds_loopback_by_default(serve: Callable[..., tuple[str, str]]) -> None:
    first, err = serve()
    assert first.startswith("listening on http://127.0.0.1:")
    assert "warning" not in err


def test_stub_serve_warns_when_told_a_non_loopback_host(
        serve: Callable[..., tuple[str, str]]) -> None:
    first, err = serve("--host", "0.0.0.0")
    assert first.startswith("listening on http://0.0.0.0:")
    assert "is not a loopback address" in err


def test_stub_server_object_binds_loopback_by_default() -> None:
    with StubServer() as server:
        assert server.loopback and server.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("type_name", ["external", "teamspace"])
@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.8:8080/x",
                                 "http://[2001:db8::1]/"])
def test_plain_http_to_another_machine_is_refused(cli: Callable[..., Any], home: Path,
                                                  type_name: str, url: str) -> None:
    result = cli("sync", "targets", "add", "t", "--type", type_name, "--url", url)
    assert result.code == 1
    assert "https" in one_line_error(result.err)
    assert count_rows(home / DB_NAME, "targets") == 0


@pytest.mark.parametrize("type_name", ["external", "teamspace"])
def test_plain_http_is_allowed_to_loopback_or_when_the_operator_says_so(
        cli: Callable[..., Any], home: Path, type_name: str) -> None:
    assert cli("sync", "targets", "add", "local", "--type", type_name, "--url",
               "http://127.0.0.1:9").code == 0
    assert cli("sync", "targets", "add", "lan", "--type", type_name, "--url",
               "http://10.0.0.8:8080", "--option", "allow_insecure=true").code == 0
    assert count_rows(home / DB_NAME, "targets") == 2
