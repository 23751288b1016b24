"""Drain throughput and history independence, measured side by side in one run.

1. Throughput: drain N events to a real stub receiver (separate process, loopback HTTP, batch
   500, ledger written) vs a bare `requests.Session` POST loop of the same batches to the same
   server (the HTTP ceiling). Each round uses a fresh stub so every event is new to it.
2. History independence: time to drain 1,000 new events to a target that already has 100,000
   delivered vs one that has none. The ratio should stay near 1 (target <= 1.3).
3. JetStream: `sync now` to a real nats-server vs a bare nats-py loop (drain_nats.py).

Run: .venv/bin/python scripts/benchmarks/bench_drain.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import requests
from drain_nats import print_row as jetstream_row
from stub_process import Stub

from eventsync.delivery.drains import Drains
from eventsync.delivery.targets import TargetRegistry
from eventsync.journal.journal import Journal
from eventsync.plugins import load_plugins
from eventsync.store import Store

BATCH = 500


def make_events(n: int, offset: int = 0) -> list[dict]:
    return [{"event_type": "WPStatusChanged", "aggregate_id": f"WP{(offset + i) % 500}",
             "payload": {"step": offset + i, "to": "doing", "note": "x" * 40}}
            for i in range(n)]


def open_home(root: Path, name: str) -> tuple[Store, Journal, Drains]:
    home = root / name
    home.mkdir()
    store = Store(home / "eventsync.db")
    return store, Journal(store), Drains(store, load_plugins(), home=home)


def drain_once(drains: Drains, name: str) -> float:
    target = TargetRegistry(drains.store).get(name)
    start = time.perf_counter()
    report = drains.drain_target(target, batch_size=BATCH)
    elapsed = time.perf_counter() - start
    assert report.delivered == report.attempted, report
    return elapsed


def throughput_round(root: Path, index: int, n: int) -> tuple[float, float]:
    store, journal, drains = open_home(root, f"tp{index}")
    journal.append_many(make_events(n))
    stub = Stub()
    try:
        TargetRegistry(store).add("bench", "stub", stub.url)
        ours = n / drain_once(drains, "bench")
    finally:
        stub.stop()
    bodies = [('{"events":[' + ",".join(r.event.to_json() for r in chunk) + "]}").encode()
              for chunk in _chunks(list(journal.rows()), BATCH)]
    stub = Stub()
    try:
        session = requests.Session()
        start = time.perf_counter()
        for body in bodies:
            reply = session.post(f"{stub.url}/api/v1/events/batch/", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=30)
            reply.raise_for_status()
            json.loads(reply.content)
        ceiling = n / (time.perf_counter() - start)
    finally:
        stub.stop()
    store.close()
    return ours, ceiling


def history_round(root: Path, index: int, history: int) -> tuple[float, float]:
    timings = []
    for label, prior in (("empty", 0), ("history", history)):
        store, journal, drains = open_home(root, f"hist{index}-{label}")
        stub = Stub()
        try:
            TargetRegistry(store).add("bench", "stub", stub.url)
            if prior:
                journal.append_many(make_events(prior))
                drain_once(drains, "bench")
            journal.append_many(make_events(1_000, offset=prior))
            timings.append(drain_once(drains, "bench"))
        finally:
            stub.stop()
            store.close()
    return timings[0], timings[1]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    rounds, n, history = (3, 10_000, 20_000) if args.quick else (5, 50_000, 100_000)
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        root = Path(tmp)
        tp = [throughput_round(root, i, n) for i in range(rounds)]
        ours = statistics.median(t[0] for t in tp)
        ceiling = statistics.median(t[1] for t in tp)
        print(f"drain to stub, batch {BATCH}, {n} events, median of {rounds}:")
        print(f"  eventsync drain (select+post+ledger): {ours:>10,.0f} events/s")
        print(f"  bare requests.Session POST loop:      {ceiling:>10,.0f} events/s")
        print(f"  ratio ours/ceiling: {ours / ceiling:.2f}  (target: >= 30,000 events/s)")
        hist = [history_round(root, i, history) for i in range(rounds)]
        empty = statistics.median(h[0] for h in hist)
        loaded = statistics.median(h[1] for h in hist)
        print(f"drain 1,000 new events, median of {rounds}:")
        print(f"  after 0 delivered:          {empty * 1000:8.1f} ms")
        print(f"  after {history:,} delivered: {loaded * 1000:8.1f} ms")
        print(f"  ratio history/empty: {loaded / empty:.2f}  (target: <= 1.3)")
    jetstream_row(5_000 if args.quick else 20_000, 3)  # scripts/benchmarks/drain_nats.py
    print("command: .venv/bin/python scripts/benchmarks/bench_drain.py"
          + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
