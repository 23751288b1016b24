"""BatchClient throughput vs a bare `requests.Session` POST loop, side by side in one run.

Both post batches of 500 events to a real stub receiver (`eventsync stub serve`, its own process,
loopback HTTP). The bare loop posts bodies built before its timer starts and only parses the
reply; BatchClient builds each body by splicing the events' stored canonical JSON and maps the
reply to one DeliveryResult per event. The ratio is what the client's work costs on top of HTTP.
A third line shows BatchClient with gzip on (as the Teamspace receiver uses it), for reference.
Each measurement gets a fresh stub, so every event is new to the server.

Run: .venv/bin/python scripts/benchmarks/bench_http_client.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import requests
from stub_process import Stub

from eventsync import BatchClient, DeliveryStatus
from eventsync.events import Event, build_event

BATCH = 500
PATH = "/api/v1/events/batch/"


def make_events(n: int) -> list[Event]:
    return [build_event({"event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 500}",
                         "payload": {"step": i, "to": "doing", "note": "x" * 40}})
            for i in range(n)]


def chunks(events: list[Event]) -> list[list[Event]]:
    return [events[i:i + BATCH] for i in range(0, len(events), BATCH)]


def with_client(events: list[Event], gzip_min_bytes: int | None = None) -> float:
    with Stub() as stub, BatchClient(stub.url + PATH, gzip_min_bytes=gzip_min_bytes) as client:
        start = time.perf_counter()
        for batch in chunks(events):
            results = client.post_batch(batch)
            assert all(r.status is DeliveryStatus.SUCCESS for r in results), results[0]
        return len(events) / (time.perf_counter() - start)


def bare_loop(events: list[Event]) -> float:
    bodies = [('{"events":[' + ",".join(e.to_json() for e in batch) + "]}").encode()
              for batch in chunks(events)]
    with Stub() as stub, requests.Session() as session:
        start = time.perf_counter()
        for body in bodies:
            reply = session.post(stub.url + PATH, data=body, timeout=30,
                                 headers={"Content-Type": "application/json"})
            reply.raise_for_status()
            json.loads(reply.content)
        return len(events) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    rounds, n = (3, 10_000) if args.quick else (5, 50_000)
    events = make_events(n)
    sides: dict[str, Callable[[], float]] = {
        "client": lambda: with_client(events),
        "bare": lambda: bare_loop(events),
        "gzip": lambda: with_client(events, gzip_min_bytes=4096),
    }
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(rounds):
        order = list(sides) if index % 2 == 0 else list(reversed(sides))
        for name in order:
            rates[name].append(sides[name]())
    client, bare, gz = (statistics.median(rates[k]) for k in ("client", "bare", "gzip"))
    print(f"post to stub, batch {BATCH}, {n:,} events, median of {rounds}:")
    print(f"  BatchClient.post_batch (splice + map results): {client:>10,.0f} events/s")
    print(f"  bare requests.Session POST loop (pre-built):   {bare:>10,.0f} events/s")
    print(f"  ratio client/bare: {client / bare:.2f}")
    print(f"  BatchClient with gzip above 4 KiB:             {gz:>10,.0f} events/s")
    print("command: .venv/bin/python scripts/benchmarks/bench_http_client.py"
          + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
