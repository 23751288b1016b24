"""Teamspace drain vs plain stub drain, side by side in one run (issue 14: >= 60 %).

Each round builds one home with N spec-kitty envelopes and two targets: a `stub` target on a
plain `eventsync stub serve`, and a `teamspace` target on `eventsync stub serve --teamspace`
(gzip on every body, /api/v1/me and the health probe first, X-Team-Slug and protocol checks on
every batch). Each server runs in its own process and is fresh per round, so every event is new
to it; the drains run in this process, one after the other, batch 500, ledger written.

Two figures: the ratio of the median rates, and the median of each round's own ratio. On a
shared machine a burst of load can land on one drain of a pair; the paired ratio compares drains
that ran seconds apart, so it is the steadier of the two. The load average is printed with them.

Run alone: .venv/bin/python scripts/benchmarks/drain_teamspace.py [--quick]
(bench_drain.py calls `run(quick)` too.)
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventsync.delivery.credentials import set_token
from eventsync.delivery.drains import Drains
from eventsync.delivery.targets import TargetRegistry
from eventsync.journal.journal import Journal
from eventsync.plugins import load_plugins
from eventsync.store import Store

BIN = Path(sys.executable).parent / "eventsync"
BATCH = 500
TOKEN = "bench-access-token"
PROJECT = "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c"
TARGET_RATIO = 0.60


class Server:
    """`eventsync stub serve --port 0 ARGS`, in its own process."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "BENCH_TS_TOKEN": TOKEN}
        self.proc = subprocess.Popen([str(BIN), "stub", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip().removeprefix("listening on ")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def envelopes(n: int) -> list[dict]:
    """spec-kitty 3.2.5-shaped envelopes (SPEC-KITTY-COMPAT §1.2); ids made at append."""
    return [{"event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 500:03d}",
             "aggregate_type": "WorkPackage",
             "payload": {"wp_id": f"WP{i % 500:03d}", "to": "doing", "note": "x" * 40},
             "node_id": "a1b2c3d4e5f6", "lamport_clock": i, "causation_id": None,
             "build_id": "build-7", "correlation_id": "01JDX7Q9ZK8M3N4P5R00000001",
             "schema_version": "3.0.0", "project_uuid": PROJECT, "project_slug": "demo",
             "team_slug": "team-blue", "git_branch": "main"} for i in range(n)]


def drain(drains: Drains, name: str, n: int) -> float:
    """Events per second of one full drain of `name`."""
    target = TargetRegistry(drains.store).get(name)
    start = time.perf_counter()
    report = drains.drain_target(target, batch_size=BATCH)
    elapsed = time.perf_counter() - start
    if report.delivered != n:
        raise SystemExit(f"drain of {name} delivered {report.delivered} of {n}: {report}")
    return n / elapsed


def one_round(root: Path, index: int, n: int) -> tuple[float, float]:
    home = root / f"round{index}"
    home.mkdir()
    store = Store(home / "eventsync.db")
    Journal(store).append_many(envelopes(n))
    plain, teamspace = Server(), Server("--teamspace", "--auth-token-env", "BENCH_TS_TOKEN")
    try:
        registry = TargetRegistry(store)
        registry.add("plain", "stub", plain.url)
        registry.add("ts", "teamspace", teamspace.url)
        set_token(home, "ts", TOKEN)
        drains = Drains(store, load_plugins(), home=home)
        # alternate which goes first, so neither always drains a warmer page cache
        if index % 2:
            ts_rate, plain_rate = drain(drains, "ts", n), drain(drains, "plain", n)
        else:
            plain_rate, ts_rate = drain(drains, "plain", n), drain(drains, "ts", n)
    finally:
        plain.stop()
        teamspace.stop()
        store.close()
    return plain_rate, ts_rate


def run(quick: bool = False) -> tuple[float, float]:
    """Print the comparison; returns (plain, teamspace) events/s, medians."""
    rounds, n = (5, 10_000) if quick else (5, 50_000)
    load_before = _load()
    saved = os.environ.get("SPEC_KITTY_ENABLE_SAAS_SYNC")
    os.environ["SPEC_KITTY_ENABLE_SAAS_SYNC"] = "1"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-teamspace-") as tmp:
            results = [one_round(Path(tmp), i, n) for i in range(rounds)]
    finally:
        if saved is None:
            os.environ.pop("SPEC_KITTY_ENABLE_SAAS_SYNC", None)
        else:
            os.environ["SPEC_KITTY_ENABLE_SAAS_SYNC"] = saved
    plain = statistics.median(r[0] for r in results)
    teamspace = statistics.median(r[1] for r in results)
    paired = [ts / pl for pl, ts in results]
    print(f"Teamspace drain vs plain stub drain, batch {BATCH}, {n} envelopes, "
          f"median of {rounds}:")
    print(f"  plain stub (stub receiver, no gzip):         {plain:>10,.0f} events/s")
    print(f"  stub --teamspace (teamspace receiver, gzip): {teamspace:>10,.0f} events/s")
    print(f"  ratio of the medians: {teamspace / plain:.2f}; median of the paired ratios: "
          f"{statistics.median(paired):.2f} (rounds: {', '.join(f'{r:.2f}' for r in paired)})"
          f"  (target: >= {TARGET_RATIO:.2f})")
    print(f"  load average (1 min) before/after: {load_before}/{_load()}")
    return plain, teamspace


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    run(args.quick)
    print("command: .venv/bin/python scripts/benchmarks/drain_teamspace.py"
          + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
