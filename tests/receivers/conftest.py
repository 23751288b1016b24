"""Fixtures for the receiver tests: real stub and recording servers on loopback, in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Received:
    """One request a RecordingServer got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """A loopback HTTP server that records every request and answers `status` with `body`.

    `echo_header` names a request header whose value the server repeats in its reason phrase
    and body: a server that leaks what it was sent, for the secrets tests.
    """

    def __init__(self, status: int = 204, body: bytes = b"", echo_header: str | None = None
                 ) -> None:
        self.status, self.body, self.echo_header = status, body, echo_header
        self.requests: list[Received] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append(Received("POST", self.path, dict(self.headers), body))
                echoed = self.headers.get(server.echo_header or "", "")
                answer = server.body + echoed.encode("latin-1")
                self.send_response(server.status, f"Nope {echoed}" if echoed else None)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        return Handler


@pytest.fixture
def recording_server() -> Iterator[Callable[..., RecordingServer]]:
    """Start RecordingServers; every one is stopped at teardown."""
    started: list[RecordingServer] = []

    def start(**options: Any) -> RecordingServer:
        started.append(RecordingServer(**options))
        return started[-1]

    yield start
    for server in started:
        server.stop()
