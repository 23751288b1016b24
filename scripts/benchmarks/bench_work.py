"""WorkQueue and Scheduler costs, side by side.

1. Per-operation cost of one job's life (enqueue + lease + ack) with WorkQueue as it is (one
   connection per thread, reused) against the same class and statements with a fresh
   connection per operation (a `Store` whose `conn` opens, tunes and closes a connection each
   time), with and without another connection holding the file open (the last close of a WAL
   file checkpoints it), and against opening a whole `WorkQueue(path)` per operation. The
   original claim was that pooling saves about 70% of the per-operation cost.
2. Jobs per second through a `Scheduler` with 4 workers and no-op handlers.
3. Leasing a backlog 10 jobs per statement against one job per statement.
4. A peer in the same run: persist-queue's `SQLiteAckQueue` (auto_commit, one connection per
   thread), the nearest equivalent of a leased queue: `put` + `get` (the item is held, unacked)
   + `ack` against our enqueue + lease + ack, and 4 threads draining a backlog with get + ack
   against the Scheduler figure. persist-queue is a benchmark-only peer: when it is missing this
   script installs it into the running venv (`pip install persist-queue`); it is never a runtime
   or test dependency. Our path also does more per job (a unique key, a fencing token, bounded
   attempts), so equal speed would already mean the extra guarantees are free.

Every figure is the median of the runs (variants interleaved within each run), each run on a
fresh file in a temporary directory.

    .venv/bin/python scripts/benchmarks/bench_work.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsync.store import Store, connect
from eventsync.work import Scheduler, SchedulerConfig, WorkQueue


class FreshConnectionStore(Store):
    """The baseline: every operation opens (and tunes) its own connection, then closes it."""

    @property
    def conn(self) -> sqlite3.Connection:
        previous = getattr(self._local, "conn", None)
        if previous is not None:
            previous.close()
        self._local.conn = connect(self.path)
        return self._local.conn


class FreshConnectionQueue(WorkQueue):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.store.close()
        self.store = FreshConnectionStore(path)


def job_cycles(queue: WorkQueue, count: int, tag: str) -> float:
    """Seconds for `count` rounds of enqueue + lease(1) + ack on `queue`."""
    start = time.perf_counter()
    for n in range(count):
        if not queue.enqueue(f"{tag}-{n}", {"n": n}):
            raise SystemExit(f"enqueue refused {tag}-{n}")
        [job] = queue.lease("bench", 1, 60)
        if not queue.ack(job):
            raise SystemExit(f"ack refused for job {job.id}")
    return time.perf_counter() - start


def queue_per_operation(path: Path, count: int, tag: str) -> float:
    """The naive caller: `WorkQueue(path)` opened (schema check included) for every call."""
    def fresh() -> WorkQueue:
        return WorkQueue(path)

    start = time.perf_counter()
    for n in range(count):
        queue = fresh()
        queue.enqueue(f"{tag}-{n}", {"n": n})
        queue.close()
        queue = fresh()
        [job] = queue.lease("bench", 1, 60)
        queue.close()
        queue = fresh()
        queue.ack(job)
        queue.close()
    return time.perf_counter() - start


def per_operation(workdir: Path, count: int, run: int) -> dict[str, float]:
    """Microseconds per operation (three per cycle) for each connection strategy.

    `fresh_held` keeps one more connection open on the file, as a daemon or another thread
    would: closing the last connection of a WAL file checkpoints it, and `fresh` pays that too.
    """
    results = {}
    for variant in ("pooled", "fresh", "fresh_held", "queue"):
        path = workdir / f"ops-{variant}-{run}.db"
        if variant == "queue":
            WorkQueue(path).close()
            elapsed = queue_per_operation(path, count, variant)
        else:
            queue = WorkQueue(path) if variant == "pooled" else FreshConnectionQueue(path)
            holder = connect(path) if variant == "fresh_held" else None
            try:
                elapsed = job_cycles(queue, count, variant)
            finally:
                queue.close()
                if holder is not None:
                    holder.close()
        results[variant] = elapsed / (3 * count) * 1e6
    return results


def scheduler_rate(workdir: Path, count: int, run: int) -> float:
    """Jobs per second from `start()` until `stop()` returns, every no-op job acked."""
    queue = WorkQueue(workdir / f"sched-{run}.db")
    try:
        for n in range(count):
            queue.enqueue(f"job-{n}", {})
        done = threading.Event()
        finished = [0]
        lock = threading.Lock()

        def handler(job: object) -> None:
            with lock:
                finished[0] += 1
                if finished[0] == count:
                    done.set()

        scheduler = Scheduler(queue, handler, SchedulerConfig(max_workers=4))
        start = time.perf_counter()
        scheduler.start()
        finished_in_time = done.wait(600)
        scheduler.stop()
        elapsed = time.perf_counter() - start
        if not finished_in_time:
            raise SystemExit(f"scheduler ran {finished[0]} of {count} jobs in 600 s")
        if queue.stats()["done"] != count:
            raise SystemExit(f"scheduler finished {queue.stats()['done']} of {count} jobs")
        return count / elapsed
    finally:
        queue.close()


def lease_all(template: Path, workdir: Path, limit: int, count: int) -> float:
    """Microseconds per job to lease a `count`-job backlog, `limit` jobs per call."""
    path = workdir / f"lease-{limit}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    queue = WorkQueue(path)
    try:
        queue.stats()
        leased = 0
        start = time.perf_counter()
        while jobs := queue.lease("bench", limit, 600):
            leased += len(jobs)
        elapsed = time.perf_counter() - start
    finally:
        queue.close()
    if leased != count:
        raise SystemExit(f"leased {leased} of {count} jobs")
    return elapsed / count * 1e6


def make_backlog(path: Path, count: int) -> None:
    queue = WorkQueue(path)
    try:
        for n in range(count):
            queue.enqueue(f"job-{n}", {"target": f"t{n % 7}"})
    finally:
        queue.close()


def load_peer() -> Any:
    """persist-queue's SQLiteAckQueue, installed into this venv for the benchmark if missing."""
    try:
        from persistqueue import SQLiteAckQueue
    except ImportError:
        print("installing the benchmark-only peer: pip install persist-queue")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "persist-queue"],
                       check=False)
        try:
            from persistqueue import SQLiteAckQueue
        except ImportError:
            return None
    return SQLiteAckQueue


def peer_cycles(peer: Any, workdir: Path, count: int, run: int) -> float:
    """Microseconds per operation of put + get + ack, the peer's enqueue + lease + ack."""
    queue = peer(str(workdir / f"peer-ops-{run}"), auto_commit=True, multithreading=True)
    start = time.perf_counter()
    for n in range(count):
        queue.put({"n": n})
        item = queue.get(block=False)
        queue.ack(item)
    elapsed = time.perf_counter() - start
    del queue
    return elapsed / (3 * count) * 1e6


def peer_workers_rate(peer: Any, workdir: Path, count: int, run: int) -> float:
    """Jobs per second for 4 threads taking and acking a `count`-item backlog (no-op work)."""
    queue = peer(str(workdir / f"peer-sched-{run}"), auto_commit=True, multithreading=True)
    for n in range(count):
        queue.put({"n": n})
    done = [0]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                item = queue.get(block=False)
            except Exception:  # persistqueue.Empty: the backlog is drained
                return
            queue.ack(item)
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if done[0] != count:
        raise SystemExit(f"the peer's workers acked {done[0]} of {count} items")
    return count / elapsed


def median_of(runs: int, measure: Callable[[int], dict[str, float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    for run in range(runs):
        for name, value in measure(run).items():
            samples.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer operations per run.")
    parser.add_argument("--runs", type=int, default=5, help="Runs per figure (median; min 5).")
    args = parser.parse_args()
    runs = max(5, args.runs)
    cycles, jobs, backlog = (300, 1_000, 2_000) if args.quick else (1_500, 5_000, 10_000)
    print("command:", shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, median of {runs} "
          f"runs; {cycles} job cycles, {jobs} scheduler jobs, {backlog}-job lease backlog\n")
    with tempfile.TemporaryDirectory(prefix="bench-work-") as tmp:
        workdir = Path(tmp)
        peer = load_peer()

        def with_peer(run: int) -> dict[str, float]:
            figures = per_operation(workdir, cycles, run)
            if peer is not None:
                figures["peer"] = peer_cycles(peer, workdir, cycles, run)
            return figures

        ops = median_of(runs, with_peer)
        print("per operation (enqueue, lease, ack; µs each)")
        print(f"  pooled per-thread connection (WorkQueue)    {ops['pooled']:8.1f}")
        print(f"  fresh connection per operation              {ops['fresh']:8.1f}")
        print(f"  fresh connection, file held open elsewhere  {ops['fresh_held']:8.1f}")
        print(f"  new WorkQueue(path) per operation           {ops['queue']:8.1f}")
        for label, base in (("fresh", "fresh"), ("fresh, held open", "fresh_held"),
                            ("WorkQueue per op", "queue")):
            ratio = ops["pooled"] / ops[base]
            print(f"  pooled / {label} = {ratio:.2f} (pooling saves {1 - ratio:.0%})")
        if peer is not None:
            print(f"  persist-queue SQLiteAckQueue put+get+ack  {ops['peer']:8.1f}")
            print(f"  peer / ours = {ops['peer'] / ops['pooled']:.2f} "
                  "(above 1: our lease+ack path is ahead)")
        print()

        def rates(run: int) -> dict[str, float]:
            figures = {"rate": scheduler_rate(workdir, jobs, run)}
            if peer is not None:
                figures["peer"] = peer_workers_rate(peer, workdir, jobs, run)
            return figures

        rate = median_of(runs, rates)
        print(f"scheduler, 4 workers, no-op handlers: {rate['rate']:,.0f} jobs/s")
        if peer is not None:
            print(f"persist-queue, 4 threads get+ack:      {rate['peer']:,.0f} jobs/s "
                  f"(ours / peer = {rate['rate'] / rate['peer']:.2f})")
        print()
        template = workdir / "backlog.db"
        make_backlog(template, backlog)
        lease = median_of(runs, lambda run: {
            "batch": lease_all(template, workdir, 10, backlog),
            "single": lease_all(template, workdir, 1, backlog)})
        print("leasing a backlog (µs per job)")
        print(f"  10 per lease() call    {lease['batch']:8.1f}")
        print(f"  1 per lease() call     {lease['single']:8.1f}")
        print(f"  batch / single = {lease['batch'] / lease['single']:.2f} "
              f"({lease['single'] / lease['batch']:.1f}x faster per job)")


if __name__ == "__main__":
    main()
