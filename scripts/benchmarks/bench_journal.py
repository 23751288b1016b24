"""Journal append throughput, side by side with the SQLite ceiling and persist-queue, in one run.

Five contestants write the same events into fresh databases under one temporary parent (so one
disk), interleaved run by run so drift hits them all alike; each figure is the median of the runs.

- `Journal.append`: one validated event per call, one transaction each (an autocommit INSERT).
- `Journal.append_many`: the whole list, one transaction per 1,000.
- raw single insert (the ceiling for `append`): stdlib sqlite3, the journal's table shape, WAL,
  synchronous=NORMAL, BEGIN IMMEDIATE/INSERT/COMMIT per row, the event JSON-encoded per row
  (ids and timestamps made before the clock starts; eventsync makes and validates its own).
- raw batched insert (the ceiling for `append_many`): the same, `executemany` 1,000 per
  transaction.
- persist-queue `SQLiteQueue.put` (auto_commit, its default settings, JSON serializer). It is not
  an eventsync dependency; install it into the benchmark's environment with
  `.venv/bin/pip install persist-queue` (the column is skipped when it is missing).

Targets: append >= 3x persist-queue and >= 50% of raw single inserts; append_many >= 60% of raw
batched inserts. persist-queue commits with SQLite's default synchronous=FULL (an fsync per put),
so that ratio depends on how cheap the disk's fsync is; the raw ceiling shows the room left.

    .venv/bin/python scripts/benchmarks/bench_journal.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eventsync.events import new_ulid, utc_timestamp
from eventsync.journal.journal import SCHEMA, Journal
from eventsync.store import Store

BATCH = 1_000
RAW_INSERT = (
    "INSERT INTO journal (event_id, event_type, aggregate_id, family, body, body_bytes,"
    " appended_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

Contestant = Callable[[Path, list[dict]], None]


def make_events(count: int) -> list[dict]:
    """Realistic events of about 250 bytes of JSON each, as a producer would hand them over."""
    return [
        {"event_type": "WPStatusChanged", "aggregate_id": f"WP{index % 500:03d}",
         "payload": {"from": "doing", "to": "for_review", "step": index, "note": "x" * 60},
         "producer": {"user": "bench", "team": "perf", "project": "p1"}}
        for index in range(count)
    ]


def run_append(path: Path, events: list[dict]) -> None:
    with Store(path) as store:
        append = Journal(store).append
        for data in events:
            append(data["event_type"], data["aggregate_id"], data["payload"],
                   producer=data["producer"])


def run_append_many(path: Path, events: list[dict]) -> None:
    with Store(path) as store:
        Journal(store).append_many(events)


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for step in SCHEMA.steps:
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    return conn


def with_ids(events: list[dict]) -> list[dict]:
    """The raw ceiling gets ids and timestamps made in advance: it owes nothing to eventsync."""
    return [{**data, "event_id": new_ulid(), "timestamp": utc_timestamp()} for data in events]


def raw_row(data: dict) -> tuple:
    """The row the ceiling writes: the whole event JSON-encoded, as the journal stores it."""
    event = {"aggregate_id": data["aggregate_id"], "aggregate_type": "",
             "event_id": data["event_id"], "event_type": data["event_type"],
             "family": "teamspace", "payload": data["payload"], "producer": data["producer"],
             "timestamp": data["timestamp"]}
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (event["event_id"], event["event_type"], event["aggregate_id"], "teamspace", body,
            len(body.encode("utf-8")), time.time_ns() // 1_000_000)


def run_raw_single(path: Path, events: list[dict]) -> None:
    conn = raw_connection(path)
    execute = conn.execute
    for data in events:
        execute("BEGIN IMMEDIATE")
        execute(RAW_INSERT, raw_row(data))
        execute("COMMIT")
    conn.close()


def run_raw_batched(path: Path, events: list[dict]) -> None:
    conn = raw_connection(path)
    for start in range(0, len(events), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_INSERT, [raw_row(data) for data in events[start:start + BATCH]])
        conn.execute("COMMIT")
    conn.close()


def persist_queue_contestant() -> Contestant | None:
    try:
        from persistqueue import SQLiteQueue
        from persistqueue.serializers import json as pq_json
    except ImportError:
        return None

    def run_persist_queue(path: Path, events: list[dict]) -> None:
        queue = SQLiteQueue(str(path), auto_commit=True, serializer=pq_json)
        put = queue.put
        for data in events:
            put(data)
        del put, queue  # its __del__ closes the connections

    return run_persist_queue


def measure(parent: Path, contestants: dict[str, Contestant], events: dict[str, list[dict]],
            rounds: int) -> dict[str, float]:
    """Median events/s of each contestant; every run writes a fresh directory.

    A short untimed round first, so imports and first-use caches are not charged to anyone.
    """
    for name, run in contestants.items():
        (parent / f"warmup-{name}").mkdir()
        run(parent / f"warmup-{name}" / "bench.db", events[name][:200])
    rates: dict[str, list[float]] = {name: [] for name in contestants}
    for index in range(rounds):
        for name, run in contestants.items():
            folder = parent / f"{name}-{index}"
            folder.mkdir()
            batch = events[name]
            start = time.perf_counter()
            run(folder / "bench.db", batch)
            rates[name].append(len(batch) / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def report(rates: dict[str, float], sizes: dict[str, int], rounds: int) -> None:
    print(f"median of {rounds} runs, events/s (events per run in brackets):")
    for name, rate in rates.items():
        print(f"  {name:<22} {rate:>10,.0f}  ({sizes[name]:,})")
    print("ratios:")
    _ratio(rates, "append", "persist-queue put", 3.0)
    _ratio(rates, "append", "raw single insert", 0.5)
    _ratio(rates, "append_many", "raw batched insert", 0.6)


def _ratio(rates: dict[str, float], ours: str, theirs: str, target: float) -> None:
    if theirs not in rates:
        print(f"  {ours} / {theirs}: skipped ({theirs} not measured)")
        return
    value = rates[ours] / rates[theirs]
    verdict = "ok" if value >= target else "BELOW TARGET"
    print(f"  {ours} / {theirs}: {value:.2f}  (target >= {target:g}: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events per run")
    parser.add_argument("--rounds", type=int, default=None,
                        help="runs per contestant (at least 5; default 7, 5 with --quick)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="parent directory for the databases (default: a temp dir)")
    args = parser.parse_args()
    rounds = max(5, args.rounds or (5 if args.quick else 7))
    single, bulk = (1_000, 10_000) if args.quick else (10_000, 50_000)
    contestants: dict[str, Contestant] = {
        "append": run_append, "raw single insert": run_raw_single,
        "append_many": run_append_many, "raw batched insert": run_raw_batched,
    }
    sizes = {"append": single, "raw single insert": single,
             "append_many": bulk, "raw batched insert": bulk}
    pq = persist_queue_contestant()
    if pq is None:
        print("persist-queue is not installed; skipping that column "
              "(install it with: .venv/bin/pip install persist-queue)")
    else:
        contestants["persist-queue put"] = pq
        sizes["persist-queue put"] = single
    events = {name: make_events(size) for name, size in sizes.items()}
    for name in ("raw single insert", "raw batched insert"):
        events[name] = with_ids(events[name])
    with tempfile.TemporaryDirectory(prefix="bench-journal-", dir=args.dir) as tmp:
        rates = measure(Path(tmp), contestants, events, rounds)
    report(rates, sizes, rounds)
    print("command: " + shlex.join([".venv/bin/python", "scripts/benchmarks/bench_journal.py",
                                    *sys.argv[1:]]))


if __name__ == "__main__":
    main()
