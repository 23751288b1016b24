"""Enqueue cost of the bounded OfflineQueue: cached row counter vs a COUNT(*) per enqueue.

Both variants are the same `OfflineQueue` class over copies of the same prefilled file; the
baseline only replaces the cached count with `SELECT COUNT(*)` on every enqueue (the behaviour
before the counter). Each run times 1,000 non-coalesced `queue_event` calls on a fresh copy,
variants interleaved, and the median of the runs is reported. A second comparison checks that
the counter keeps enqueue flat: the same measurement at 100,000 prefilled rows vs 5,000.

    .venv/bin/python scripts/benchmarks/bench_queue_enqueue.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from eventsync.events import Event, build_event
from eventsync.queue.offline_queue import OfflineQueue

SPEED_TARGET = 10.0
FLATNESS_TOLERANCE = 0.15
CAP = 1_000_000


class CountPerEnqueueQueue(OfflineQueue):
    """The pre-change baseline: the cap check recounts the table on every enqueue."""

    def _current_count(self, conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0])


def make_events(count: int, tag: str) -> list[Event]:
    """Distinct, realistic, non-coalescible events (about 300 bytes of JSON each)."""
    return [
        build_event({
            "event_type": "WPStatusChanged",
            "aggregate_id": f"{tag}-{index}",
            "payload": {"from": "doing", "to": "for_review", "note": "x" * 120, "n": index},
            "producer": {"user": "bench", "team": "perf", "project": f"p{index % 7}"},
        })
        for index in range(count)
    ]


def prefill(path: Path, rows: int) -> None:
    """Fill a template file through the public API, then close it (checkpointing the WAL)."""
    queue = OfflineQueue(path, max_queue_size=CAP)
    try:
        for start in range(0, rows, 5_000):
            for event in make_events(min(5_000, rows - start), f"fill{start}"):
                if not queue.queue_event(event):
                    raise SystemExit(f"prefill failed writing {path}")
    finally:
        queue.close()


def time_enqueues(cls: type[OfflineQueue], template: Path, workdir: Path, events: list[Event]
                  ) -> float:
    """Seconds for len(events) queue_event calls on a fresh copy of `template`."""
    path = workdir / f"run-{cls.__name__}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    os.sync()
    queue = cls(path, max_queue_size=CAP)
    try:
        start = time.perf_counter()
        for event in events:
            if not queue.queue_event(event):
                raise SystemExit(f"enqueue failed on {path}")
        elapsed = time.perf_counter() - start
        if queue._size_from_disk() != queue.size():
            raise SystemExit("counter disagrees with the file: benchmark invalid")
    finally:
        queue.close()
    return elapsed


def measure(templates: dict[int, Path], workdir: Path, runs: int, enqueues: int,
            classes: tuple[type[OfflineQueue], ...]) -> dict[tuple[int, str], float]:
    """Median enqueues/second per (fill, class); runs interleave fills and classes so that
    machine drift hits every variant alike."""
    times: dict[tuple[int, str], list[float]] = {
        (fill, cls.__name__): [] for fill in templates for cls in classes
    }
    for run in range(runs):
        events = make_events(enqueues, f"run{run}")
        for fill, template in templates.items():
            for cls in classes:
                times[fill, cls.__name__].append(time_enqueues(cls, template, workdir, events))
    return {key: enqueues / statistics.median(values) for key, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller big fill")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    small, big, enqueues = 5_000, (20_000 if args.quick else 100_000), 1_000

    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        workdir = Path(tmp)
        templates = {fill: workdir / f"fill-{fill}.db" for fill in (small, big)}
        for fill, template in templates.items():
            prefill(template, fill)
        rates = measure(templates, workdir, runs, enqueues, (OfflineQueue, CountPerEnqueueQueue))

    report(rates, small, big, runs, enqueues)
    print("command: " + " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]))
    return 0


def report(rates: dict[tuple[int, str], float], small: int, big: int, runs: int,
           enqueues: int) -> None:
    counter, baseline = "OfflineQueue", "CountPerEnqueueQueue"
    print(f"{enqueues} non-coalesced queue_event calls, median of {runs} runs (enqueues/s)")
    print(f"{'prefilled':>10}  {'counter':>10}  {'COUNT(*)':>10}  {'ratio':>7}")
    for fill in (small, big):
        ratio = rates[fill, counter] / rates[fill, baseline]
        print(f"{fill:>10,}  {rates[fill, counter]:>10,.0f}  {rates[fill, baseline]:>10,.0f}"
              f"  {ratio:>6.2f}x")
    enqueue_us = 1e6 / rates[small, counter]
    count_us = {fill: 1e6 / rates[fill, baseline] - 1e6 / rates[fill, counter]
                for fill in (small, big)}
    print(f"per call: an enqueue costs {enqueue_us:.0f} us; the COUNT(*) adds"
          f" {count_us[small]:.0f} us at {small:,} rows and {count_us[big]:.0f} us at {big:,}")
    speedup = rates[small, counter] / rates[small, baseline]
    flat = rates[big, counter] / rates[small, counter]
    print(f"speed-up at {small:,} prefilled: {speedup:.2f}x (target >= {SPEED_TARGET:.0f}x)"
          f" {'PASS' if speedup >= SPEED_TARGET else 'MISS'}")
    print(f"flatness: counter at {big:,} / at {small:,} = {flat:.2f}"
          f" (target within {FLATNESS_TOLERANCE:.0%})"
          f" {'PASS' if abs(1 - flat) <= FLATNESS_TOLERANCE else 'MISS'}")


if __name__ == "__main__":
    sys.exit(main())
