"""A real HTTP server speaking the batch contract, on loopback by default.

The stdlib `ThreadingHTTPServer` is enough once two things are right: HTTP/1.1 so that clients
keep their connection alive, and `disable_nagle_algorithm`, without which every small response
waits on the client's delayed ACK (about 42 ms a request, whatever the batch size).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import eventsync
from eventsync_stub.batches import MAX_REQUEST_BYTES, Identity, Reply, StubApp, make_faults
from eventsync_stub.storage import open_storage
from eventsync_stub.teamspace import TeamspaceMode, TeamspaceRules

BATCH_PATH = "/api/v1/events/batch/"
HEALTH_PATH = "/api/v1/sync/health/"
EVENTS_PATH = "/_stub/events"
REQUESTS_PATH = "/_stub/requests"
ME_PATH = "/api/v1/me"
TOKEN_PATH = "/oauth/token"
_ROUTES = {BATCH_PATH, HEALTH_PATH, EVENTS_PATH, REQUESTS_PATH, ME_PATH, TOKEN_PATH}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "eventsync-stub"
    timeout = 300  # an idle keep-alive connection is let go after five minutes
    server: _HTTPServer

    def do_GET(self) -> None:
        app, path = self.server.app, _route(self.path)
        teamspace = app.teamspace
        if path in (HEALTH_PATH, ME_PATH):
            app.record("GET", path, self.headers)
        if path == HEALTH_PATH:
            self._send(self._guarded(app.health))
        elif path == EVENTS_PATH:
            self._send(self._guarded(app.received))
        elif path == REQUESTS_PATH:
            self._send(self._guarded(app.request_log))
        elif path == ME_PATH and teamspace is not None:
            self._send(self._guarded(teamspace.me, self.headers))
        else:
            self._send(_not_here(path, "GET"))

    def do_POST(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        app, path = self.server.app, _route(self.path)
        if path == BATCH_PATH:
            self._send(self._guarded(app.batch, raw, self.headers))
        elif path == TOKEN_PATH and app.teamspace is not None:
            app.record("POST", path, self.headers, raw,
                       form=dict(parse_qsl(raw.decode("utf-8", "replace"))))
            self._send(self._guarded(app.teamspace.token, raw))
        else:
            self._send(_not_here(path, "POST"))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a parent that never reads our stderr must not block on a full pipe."""

    def _guarded(self, answer: Any, *args: Any) -> Reply:
        try:
            return answer(*args)
        except Exception as exc:  # a stub bug answers 500 rather than hanging the client
            return Reply(500, {"error": f"stub error: {type(exc).__name__}"})

    def _read_body(self) -> bytes | None:
        """The whole body, or None once a refusal has been sent and the connection given up."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0 or self.headers.get("Transfer-Encoding"):
            self._send(Reply(411, {"error": "a Content-Length is required"}), close=True)
            return None
        if length > MAX_REQUEST_BYTES:
            self._send(Reply(413, {"error": f"request body over {MAX_REQUEST_BYTES} bytes"}),
                       close=True)
            return None
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True
            return None
        return raw

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        body = reply.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.drop:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so `stop()` can cut idle keep-alive ones and join every thread."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], app: StubApp) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's `getfqdn`: a reverse DNS lookup can stall start-up for seconds."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._live_lock:
            self._live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._live_lock:
            live = list(self._live)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away is normal; anything else is worth one line."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            print(f"eventsync-stub: error serving a request: {exc!r}", file=sys.stderr)


class StubServer:
    """The stub receiver in-process: `with StubServer(max_event_bytes=2000) as server: ...`.

    Fault options are the keyword arguments of `Faults` (`max_event_bytes`, `max_body_bytes`,
    `reject_types`, `fail_every`, `drop_every`, `latency_ms`, `reply_delay_ms`, `auth_token`,
    `private_teamspace`, `retry_after`); `db` keeps what is received in a SQLite file (and the
    server_instance_id, so a restart on the same file is the same instance). `teamspace` (a
    `TeamspaceMode`) makes it answer as the Teamspace server does.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, db: str | Path | None = None, *,
                 instance_id: str | None = None, deployment_id: str = "eventsync-stub",
                 environment_name: str = "local", git_sha: str | None = None,
                 teamspace: TeamspaceMode | None = None, **faults: Any) -> None:
        storage = open_storage(db)
        identity = Identity(instance_id or storage.instance_id(), deployment_id,
                            environment_name, git_sha)
        self.host = host
        self._requested_port = port
        rules = TeamspaceRules(teamspace) if teamspace is not None else None
        self.app = StubApp(storage, make_faults(**faults), identity, rules)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StubServer:
        """Bind and serve on a background thread; returns self."""
        httpd = _HTTPServer((self.host, self._requested_port), self.app)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="eventsync-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut open connections, wait for handler threads, close the storage."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.cut_connections()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.app.storage.close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the stub server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Whether the bound address is reachable from this machine only."""
        if self._httpd is None:
            raise RuntimeError("the stub server is not running")
        return eventsync.is_loopback(self._httpd.server_address[0])

    def events(self) -> list[dict[str, Any]]:
        """What the server holds, in arrival order, each event_id once."""
        return self.app.storage.events()


def _route(raw_path: str) -> str:
    """The path without query, with or without its trailing slash."""
    path = urlsplit(raw_path).path
    return path if path in _ROUTES or path + "/" not in _ROUTES else path + "/"


def _not_here(path: str, method: str) -> Reply:
    if path in _ROUTES:
        return Reply(405, {"error": f"{method} is not allowed on {path}"})
    return Reply(404, {"error": "no such endpoint"})
