"""Enqueue cost of eventsync's OfflineQueue against the real peers, spec-kitty-cli 2.1.0 and 3.2.5.

spec-kitty 2.1.0's queue counts the table (`SELECT COUNT(*)`) on every enqueue; 3.2.5 keeps a
cached row counter; eventsync keeps one too and writes through its tuned connection (WAL,
synchronous=NORMAL, one `BEGIN IMMEDIATE` transaction per call) instead of spec-kitty's
default rollback journal with a full fsync per commit. Each peer is installed into a scratch
venv under /tmp (benchmark-only, never a runtime or test dependency), all three run the same
measurement side by side: 1,000 non-coalesced `queue_event` calls of a spec-kitty 3.2.5
envelope on a fresh copy of a prefilled S2 queue file (5,000 and 100,000 rows, written in
spec-kitty's own rollback-journal mode; `max_queue_size` 1,000,000 so nothing is evicted),
contestants interleaved, median of the runs.

Targets (issue 13): eventsync >= 2x spec-kitty 2.1.0 at 5,000 prefilled, and eventsync at
100,000 within 15 % of eventsync at 5,000.

    .venv/bin/python scripts/benchmarks/bench_queue_enqueue.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PEERS = {"spec-kitty 2.1.0": ("spec-kitty-cli==2.1.0", Path("/tmp/eventsync-bench-sk-2.1.0")),
         "spec-kitty 3.2.5": ("spec-kitty-cli==3.2.5", Path("/tmp/eventsync-bench-sk-3.2.5"))}
OURS = "eventsync"
SPEED_TARGET = 2.0
FLATNESS_TOLERANCE = 0.15
CAP = 1_000_000
ENQUEUES = 1_000

# Runs in each contestant's own interpreter; prints the seconds the enqueues took.
WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    kind, path, tag, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if kind == "eventsync":
        from eventsync.queue.offline_queue import OfflineQueue
    else:
        from specify_cli.sync.queue import OfflineQueue
    queue = OfflineQueue(path, max_queue_size=1_000_000)
    def envelope(i):
        event_id = "01JE" + f"{tag}{i:010d}".upper().rjust(22, "0")[-22:]
        return {"event_id": event_id, "event_type": "WPStatusChanged", "aggregate_id": f"WP{i}",
                "aggregate_type": "WorkPackage", "payload": {"wp_id": f"WP{i}", "to": "doing",
                "note": "x" * 120}, "node_id": "bench", "lamport_clock": i,
                "causation_id": None, "timestamp": "2026-12-01T10:00:00.000000+00:00",
                "team_slug": "team-bench", "project_uuid": "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c",
                "project_slug": "bench", "git_branch": "main", "head_commit_sha": "0" * 40,
                "repo_slug": "acme/bench", "schema_version": "3.0.0", "build_id": "b1",
                "correlation_id": event_id, "drain_blocked_reason": None}
    events = [envelope(i) for i in range(n)]
    start = time.perf_counter()
    for event in events:
        if not queue.queue_event(event):
            sys.exit("enqueue failed")
    elapsed = time.perf_counter() - start
    if hasattr(queue, "close"):
        queue.close()
    print(json.dumps(elapsed))
""")


def ensure_peer(requirement: str, venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing {requirement} into {venv} (benchmark only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # 2.1.0's wheel does not pull in click although its package imports it
        subprocess.run([str(python), "-m", "pip", "install", "-q", requirement, "click"],
                       check=True)
    return python


def prefill(path: Path, rows: int) -> None:
    """An S2 file as spec-kitty leaves it: default rollback journal, `data` the envelope."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " event_id TEXT UNIQUE NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL,"
                 " timestamp INTEGER NOT NULL, retry_count INTEGER DEFAULT 0, coalesce_key TEXT)")
    for index in ("idx_timestamp ON queue(timestamp)", "idx_retry ON queue(retry_count)",
                  "idx_coalesce_key ON queue(coalesce_key)"):
        conn.execute(f"CREATE INDEX {index}")
    body = {"event_type": "WPStatusChanged", "payload": {"to": "doing", "note": "x" * 120},
            "node_id": "fill", "team_slug": "team-bench", "schema_version": "3.0.0"}
    with conn:
        conn.executemany(
            "INSERT INTO queue (event_id, event_type, data, timestamp) VALUES (?, ?, ?, ?)",
            ((f"01JDFILL{i:018d}", "WPStatusChanged",
              json.dumps({**body, "event_id": f"01JDFILL{i:018d}", "aggregate_id": f"F{i}"}),
              1_764_500_000 + i) for i in range(rows)))
    conn.close()


def run_once(python: Path, kind: str, template: Path, workdir: Path, tag: str) -> float:
    path = workdir / "run.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    os.sync()  # the copy's dirty pages must not be flushed inside someone's timed fsyncs
    done = subprocess.run([str(python), "-c", WORKER, kind, str(path), tag, str(ENQUEUES)],
                          capture_output=True, text=True, cwd=workdir, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed: {done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs, 20,000 as the big fill")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    small, big = 5_000, (20_000 if args.quick else 100_000)
    contestants = {OURS: (Path(sys.executable), "eventsync")}
    for name, (requirement, venv) in PEERS.items():
        contestants[name] = (ensure_peer(requirement, venv), "spec-kitty")
    times: dict[tuple[str, int], list[float]] = {(c, f): [] for c in contestants
                                                 for f in (small, big)}
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        work = Path(tmp)
        templates = {fill: work / f"fill-{fill}.db" for fill in (small, big)}
        for fill, template in templates.items():
            prefill(template, fill)
        for run in range(runs):
            for fill, template in templates.items():
                for name, (python, kind) in contestants.items():
                    times[name, fill].append(run_once(python, kind, template, work, f"R{run}"))
    rates = {key: ENQUEUES / statistics.median(values) for key, values in times.items()}
    report(rates, small, big, runs)
    print("command: " + " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]))
    return 0


def report(rates: dict[tuple[str, int], float], small: int, big: int, runs: int) -> None:
    print(f"{ENQUEUES:,} non-coalesced queue_event calls, median of {runs} runs (enqueues/s)")
    print(f"{'contestant':<18} {small:>12,} {big:>12,}   per call at {small:,}")
    names = sorted({name for name, _ in rates}, key=lambda n: (n != OURS, n))
    for name in names:
        print(f"{name:<18} {rates[name, small]:>12,.0f} {rates[name, big]:>12,.0f}"
              f"   {1e6 / rates[name, small]:,.0f} us")
    speedup = rates[OURS, small] / rates["spec-kitty 2.1.0", small]
    versus_325 = rates[OURS, small] / rates["spec-kitty 3.2.5", small]
    flat = rates[OURS, big] / rates[OURS, small]
    print(f"eventsync / spec-kitty 2.1.0 at {small:,}: {speedup:.2f}x (target >= "
          f"{SPEED_TARGET:.0f}x) {'PASS' if speedup >= SPEED_TARGET else 'MISS'}")
    print(f"eventsync / spec-kitty 3.2.5 at {small:,}: {versus_325:.2f}x")
    for name in names:
        print(f"{name} at {big:,} / at {small:,}: {rates[name, big] / rates[name, small]:.2f}")
    print(f"flatness: eventsync at {big:,} / at {small:,} = {flat:.2f} (target within "
          f"{FLATNESS_TOLERANCE:.0%}) {'PASS' if abs(1 - flat) <= FLATNESS_TOLERANCE else 'MISS'}")


if __name__ == "__main__":
    sys.exit(main())
