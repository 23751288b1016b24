"""A real loopback server that answers a POST with its headers, then one body byte a second.

Every single read completes well within any socket timeout, so only a whole-request deadline
can end such a request (issue 15 item 1). GETs (health probes, `/api/v1/me`) get `get_body`
at once, so a test measures the batch POST alone.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any


class DrippingServer:
    """`with DrippingServer() as server: ... server.url`; counts the POSTs it received."""

    def __init__(self, get_body: dict[str, Any] | None = None, interval: float = 1.0) -> None:
        self.interval = interval
        self.get_body = json.dumps(get_body or {}).encode()
        self.posts = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> DrippingServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._accepter.join()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(30)
            reader = conn.makefile("rb")
            while not self._stop.is_set():
                method, length = _read_head(reader)
                if method is None:
                    return
                reader.read(length)
                if method != "POST":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(self.get_body)
                                 + self.get_body)
                    continue
                self.posts += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100000\r\n\r\n")
                while not self._stop.wait(self.interval):
                    conn.sendall(b" ")


def _read_head(reader: Any) -> tuple[str | None, int]:
    first = reader.readline()
    if not first:
        return None, 0
    length = 0
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return first.split(b" ", 1)[0].decode("ascii"), length
