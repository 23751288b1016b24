"""Chaos soak: producers, concurrent drainers, a flaky receiver and a killer, then the audit.

Four producer processes append events (single and batched) while two `sync now --all` loops and
one `sync daemon` drain two stub receivers — one clean, one answering 503s, adding latency and
cutting connections mid-response — and a killer SIGKILLs a random drainer every few seconds
(the loops restart it). After a final clean drain it checks: every appended event is in the
journal exactly once; each stub holds every event exactly once; ledger counts equal the stubs'
counts; no process printed a traceback or "database is locked"; `PRAGMA integrity_check` is ok.

Run: .venv/bin/python scripts/soak.py --seconds 60     (or --minutes N for longer runs)
Exit status 0 when every check holds; the last line is the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent / "eventsync"
FORBIDDEN = ("Traceback", "database is locked", "internal error")
PRODUCER = r"""
import sys, time, random
import eventsync
out, deadline, who = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with eventsync.Journal.open() as journal, open(out, "a") as ids:
    n = 0
    while time.time() < deadline:
        if random.random() < 0.7:
            event = journal.append("SoakEvent", f"{who}-{n % 50}", {"n": n, "who": who})
            ids.write(event.event_id + "\n")
            n += 1
        else:
            batch = [{"event_type": "SoakBatch", "aggregate_id": f"{who}-b",
                      "payload": {"n": n + i}} for i in range(20)]
            for event in journal.append_many(batch):
                ids.write(event.event_id + "\n")
            n += 20
        ids.flush()
        time.sleep(random.uniform(0.005, 0.03))
"""


class Soak:
    def __init__(self, seconds: float, root: Path) -> None:
        self.seconds = seconds
        self.root = root
        self.home = root / "home"
        self.env = {**os.environ, "EVENTSYNC_HOME": str(self.home)}
        for name in ("EVENTSYNC_TARGET", "EVENTSYNC_SERVER_URL", "EVENTSYNC_LOAD_PLUGINS"):
            self.env.pop(name, None)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.drainers: dict[str, subprocess.Popen[str]] = {}
        self.kills = 0
        self.outputs: list[str] = []
        self.stubs: list[tuple[subprocess.Popen[str], str]] = []

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(BIN), *args], env=self.env, capture_output=True, text=True,
                              check=False)
        self.outputs.append(done.stderr)
        if check and done.returncode != 0:
            raise SystemExit(f"soak: eventsync {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def start_stub(self, *faults: str) -> str:
        proc = subprocess.Popen([str(BIN), "stub", "serve", "--port", "0", *faults],
                                env=self.env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        self.stubs.append((proc, url))
        return url

    def setup(self) -> None:
        clean = self.start_stub()
        flaky = self.start_stub("--fail-every", "5", "--latency-ms", "15", "--drop-every", "7")
        self.cli("sync", "targets", "add", "clean", "--type", "stub", "--url", clean,
                 "--activate")
        self.cli("sync", "targets", "add", "flaky", "--type", "stub", "--url", flaky)
        for key, value in (("retry.base_seconds", "0.2"), ("retry.max_seconds", "2"),
                           ("work.lease_ttl_seconds", "3"), ("work.heartbeat_seconds", "1"),
                           ("delivery.batch_size", "50")):
            self.cli("sync", "config", "set", key, value)

    def drain_loop(self, name: str, args: list[str]) -> None:
        while not self.stop.is_set():
            proc = subprocess.Popen([str(BIN), *args], env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            with self.lock:
                self.drainers[name] = proc
            _, err = proc.communicate()
            self.outputs.append(err)
            with self.lock:
                self.drainers.pop(name, None)
            if name != "daemon":
                time.sleep(random.uniform(0.05, 0.3))

    def killer(self) -> None:
        while not self.stop.wait(random.uniform(1.5, 3.0)):
            with self.lock:
                if not self.drainers:
                    continue
                name = random.choice(sorted(self.drainers))
                proc = self.drainers[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                self.kills += 1

    def run(self) -> str:
        self.setup()
        deadline = time.time() + self.seconds
        producers = [subprocess.Popen([sys.executable, "-c", PRODUCER,
                                       str(self.root / f"ids-{i}.txt"), str(deadline), f"p{i}"],
                                      env=self.env, stderr=subprocess.PIPE, text=True)
                     for i in range(4)]
        loops = [threading.Thread(target=self.drain_loop, args=(name, args), daemon=True)
                 for name, args in (("now-1", ["sync", "now", "--all"]),
                                    ("now-2", ["sync", "now", "--all"]),
                                    ("daemon", ["sync", "daemon", "--interval", "0.3"]))]
        killer = threading.Thread(target=self.killer, daemon=True)
        for thread in [*loops, killer]:
            thread.start()
        for proc in producers:
            _, err = proc.communicate()
            self.outputs.append(err)
            if proc.returncode != 0:
                raise SystemExit(f"soak: a producer failed: {err.strip()[-500:]}")
        self.stop.set()
        killer.join()
        with self.lock:
            for name, proc in self.drainers.items():
                proc.send_signal(signal.SIGTERM if name == "daemon" else signal.SIGKILL)
        for thread in loops:
            thread.join(timeout=60)
        return self.final_drain_and_check()

    def final_drain_and_check(self) -> str:
        for _ in range(60):
            for target in ("clean", "flaky"):
                self.cli("sync", "retry", "--target", target)
            self.cli("sync", "now", "--all", check=False)
            status = json.loads(self.cli("sync", "status", "--json").stdout)
            if all(t["pending"] == 0 and t["retrying"] == 0 for t in status["targets"]):
                break
            time.sleep(0.3)
        else:
            raise SystemExit(f"soak: the final drain did not converge: {status['targets']}")
        return self.check(status)

    def check(self, status: dict) -> str:
        appended: list[str] = []
        for path in sorted(self.root.glob("ids-*.txt")):
            appended += path.read_text().split()
        failures = []
        db = sqlite3.connect(self.home / "eventsync.db")
        journal_ids = [row[0] for row in db.execute("SELECT event_id FROM journal")]
        if sorted(journal_ids) != sorted(set(appended)) or len(set(appended)) != len(appended):
            failures.append(f"journal holds {len(journal_ids)} events, producers appended "
                            f"{len(appended)} ({len(set(appended))} distinct)")
        for (_proc, url), target in zip(self.stubs, ("clean", "flaky"), strict=True):
            held = requests.get(f"{url}/_stub/events", timeout=30).json()["events"]
            ids = [e["event_id"] for e in held]
            if len(ids) != len(set(ids)) or set(ids) != set(journal_ids):
                failures.append(f"stub {target} holds {len(ids)} events ({len(set(ids))} "
                                f"distinct), journal {len(journal_ids)}")
            delivered = next(t["delivered"] for t in status["targets"] if t["name"] == target)
            if delivered != len(ids):
                failures.append(f"ledger says {delivered} delivered to {target}, stub holds "
                                f"{len(ids)}")
        failures += [f"a process printed {word!r}" for text in self.outputs for word in FORBIDDEN
                     if word in text]
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            failures.append(f"integrity_check: {integrity}")
        retries, duplicates = db.execute(
            "SELECT COALESCE(SUM(attempts - 1), 0), COALESCE(SUM(state = 'duplicate'), 0)"
            " FROM deliveries").fetchone()
        db.close()
        if failures:
            raise SystemExit("soak FAILED: " + "; ".join(sorted(set(failures))[:10]))
        return (f"soak ok: {len(journal_ids)} events, {self.kills} kills, {retries} retries, "
                f"{duplicates} duplicates absorbed, {self.seconds:g}s")

    def shutdown(self) -> None:
        for proc, _url in self.stubs:
            proc.send_signal(signal.SIGTERM)
        for proc, _url in self.stubs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description="eventsync chaos soak")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=None)
    args = parser.parse_args()
    seconds = args.minutes * 60 if args.minutes is not None else args.seconds
    with tempfile.TemporaryDirectory(prefix="eventsync-soak-") as tmp:
        soak = Soak(seconds, Path(tmp))
        try:
            print(soak.run(), flush=True)
        finally:
            soak.shutdown()


if __name__ == "__main__":
    main()
