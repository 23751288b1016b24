"""Round trip against the real spec-kitty client (issue 13), outside `make test`.

1. Installs `spec-kitty-cli==3.2.5` into a scratch venv (default /tmp/eventsync-spec-kitty-3.2.5;
   reused when present): a benchmark/compat tool only, never a dependency of eventsync.
2. spec-kitty's own `OfflineQueue` writes a home: `queue.db` (scope named by
   `active_queue_scope`) and two scoped files `queues/queue-<digest>.db` for two teams.
3. eventsync migrates that home read-only and drains it to two real stub servers, one per
   scope: each must receive exactly its scope's events, envelopes unchanged, and the
   spec-kitty files must be byte-for-byte as they were.
4. eventsync's `OfflineQueue` writes a queue file in spec-kitty's layout; spec-kitty opens,
   counts, drains (validating each envelope with spec_kitty_events.Event) and clears it.

Every check prints PASS or FAIL; the exit status is the number of failures.

    .venv/bin/python scripts/compat/spec_kitty_roundtrip.py [--venv PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from eventsync.events import new_ulid
from eventsync.queue.offline_queue import OfflineQueue
from eventsync.queue.scope import build_queue_scope, default_queue_db_path

SPEC_KITTY = "spec-kitty-cli==3.2.5"
BIN = Path(sys.executable).parent / "eventsync"
USER = "ana@example.org"
FAILURES: list[str] = []

# Runs inside the spec-kitty venv. Writes a home with spec-kitty's own queue code.
WRITE_HOME = textwrap.dedent("""
    import json, os, sys, uuid
    from datetime import UTC, datetime
    from pathlib import Path
    import spec_kitty_events
    from ulid import ULID
    from specify_cli.sync import queue as q

    spec = json.loads(sys.argv[1])
    home = Path(os.environ["SPEC_KITTY_HOME"])
    project = str(uuid.uuid4())

    def envelope(team, n):
        event_id = str(ULID())
        return {"event_id": event_id, "event_type": "WPStatusChanged", "aggregate_id": f"WP{n:02d}",
                "aggregate_type": "WorkPackage", "payload": {"wp_id": f"WP{n:02d}", "to": "doing"},
                "node_id": "node-roundtrip", "lamport_clock": n, "causation_id": None,
                "timestamp": datetime.now(UTC).isoformat(), "team_slug": team,
                "project_uuid": project, "project_slug": "roundtrip", "git_branch": "main",
                "head_commit_sha": "0" * 40, "repo_slug": "acme/roundtrip",
                "schema_version": "3.0.0", "build_id": "build-1", "correlation_id": event_id,
                "drain_blocked_reason": None}

    out = {"files": {}}
    n = 0
    for name, (server, team, count) in spec["scopes"].items():
        scope = q.build_queue_scope(server, spec["user"], team)
        path = q.scope_db_path(scope)
        queue = q.OfflineQueue(db_path=path, max_queue_size=100_000)
        events = []
        for _ in range(count):
            n += 1
            event = envelope(team, n)
            spec_kitty_events.Event(**event)  # the CLI's own check before queueing
            assert queue.queue_event(event)
            events.append(event)
        out["files"][name] = {"path": str(path), "scope": scope, "events": events}
    server, team, count = spec["legacy"]
    q.write_active_scope(q.build_queue_scope(server, spec["user"], team))
    legacy = q.OfflineQueue(db_path=home / "queue.db", max_queue_size=100_000)
    events = []
    for _ in range(count):
        n += 1
        event = envelope(team, n)
        assert legacy.queue_event(event)
        events.append(event)
    out["files"]["legacy"] = {"path": str(home / "queue.db"), "events": events}
    print(json.dumps(out))
""")

# Runs inside the spec-kitty venv. Reads a file eventsync wrote, as spec-kitty's sync does.
READ_FILE = textwrap.dedent("""
    import json, sys
    from types import SimpleNamespace
    from pathlib import Path
    import spec_kitty_events
    from specify_cli.sync import queue as q

    path, server, user, team = sys.argv[1:5]
    queue = q.OfflineQueue(db_path=Path(path), max_queue_size=100_000)
    size = queue.size()
    drained = queue.drain_queue(1000)
    valid = [spec_kitty_events.Event(**event).event_id for event in drained]
    queue.process_batch_results(
        [SimpleNamespace(event_id=e["event_id"], status="success") for e in drained])
    expected = q.scope_db_path(q.build_queue_scope(server, user, team))
    print(json.dumps({"size": size, "drained": drained, "valid": valid,
                      "after": queue.size(), "expected_path": str(expected)}))
""")


def check(ok: bool, what: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}: {what}", flush=True)
    if not ok:
        FAILURES.append(what)


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing {SPEC_KITTY} into {venv} (scratch venv, compat check only)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", SPEC_KITTY], check=True)
    version = subprocess.run([str(python), "-c", "import importlib.metadata as m;"
                              "print(m.version('spec-kitty-cli'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    check(version == "3.2.5", f"spec-kitty-cli in {venv} is {version}")
    return python


def spec_kitty(python: Path, script: str, *args: str, home: Path) -> dict[str, Any]:
    env = {**os.environ, "SPEC_KITTY_HOME": str(home), "HOME": str(home.parent)}
    done = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True,
                          env=env, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"spec-kitty side failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def eventsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env,
                          timeout=300)


class Stub:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([str(BIN), "stub", "serve", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip().removeprefix("listening on ")

    def events(self) -> list[dict[str, Any]]:
        import requests

        return requests.get(f"{self.url}/_stub/events", timeout=10).json()["events"]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def migrate_and_drain(python: Path, work: Path) -> None:
    """Steps 2 and 3: spec-kitty writes a home, eventsync migrates and drains it."""
    env = {**os.environ, "EVENTSYNC_HOME": str(work / "eventsync-home")}
    stubs = {"blue": Stub(env), "red": Stub(env)}
    try:
        spec = {"user": USER, "scopes": {"blue": [stubs["blue"].url, "team-blue", 3],
                                         "red": [stubs["red"].url, "team-red", 2]},
                "legacy": [stubs["blue"].url, "team-blue", 2]}
        sk_home = work / ".spec-kitty"
        written = spec_kitty(python, WRITE_HOME, json.dumps(spec), home=sk_home)
        files = {name: Path(info["path"]) for name, info in written["files"].items()}
        check(all(p.is_file() for p in files.values()) and files["blue"].parent.name == "queues",
              "spec-kitty wrote queue.db and two queues/queue-<digest>.db files")
        for name in ("blue", "red"):
            ours = default_queue_db_path(build_queue_scope(stubs[name].url, USER,
                                                           f"team-{name}"), sk_home)
            check(ours == files[name], f"eventsync names the {name} scope's file as spec-kitty"
                                       f" does ({files[name].name})")
        before = {name: digest_of(path) for name, path in files.items()}
        for name in ("blue", "red"):
            eventsync("sync", "targets", "add", name, "--type", "stub", "--url",
                      stubs[name].url, "--option", f"user={USER}", "--option",
                      f"team=team-{name}", env=env)
        migrated = eventsync("sync", "migrate", str(sk_home), "--json", env=env)
        check(migrated.returncode == 0, f"sync migrate exits 0 ({migrated.stderr.strip()})")
        report = json.loads(migrated.stdout)
        targets = {Path(f["path"]).name: f["target"] for f in report["files"]}
        check(targets == {files["blue"].name: "blue", files["red"].name: "red",
                          "queue.db": "blue"},
              f"each file attached to its scope's target {targets}")
        check(report["imported"] == 7, f"7 events imported, ids kept ({report['imported']})")
        drained = eventsync("sync", "now", "--all", env=env)
        check(drained.returncode == 0, f"sync now --all exits 0 ({drained.stderr.strip()})")
        expect = {"blue": written["files"]["blue"]["events"] + written["files"]["legacy"]["events"],
                  "red": written["files"]["red"]["events"]}
        for name, stub in stubs.items():
            got = {event["event_id"]: event for event in stub.events()}
            want = {event["event_id"]: event for event in expect[name]}
            check(set(got) == set(want), f"stub {name} received exactly its scope's"
                                         f" {len(want)} events (got {len(got)})")
            same = all({k: got[i][k] for k in want[i]} == want[i] for i in want if i in got)
            check(same, f"stub {name}: every envelope field arrived with its value")
        after = {name: digest_of(path) for name, path in files.items()}
        check(after == before, "the spec-kitty files are unchanged (read-only)")
    finally:
        for stub in stubs.values():
            stub.stop()


def eventsync_writes_spec_kitty_reads(python: Path, work: Path) -> None:
    """Step 4: a queue file written by eventsync opens and drains in spec-kitty."""
    home = work / "sk-reads"
    server, team = "https://sync.example.com/", "team-green"
    path = default_queue_db_path(build_queue_scope(server, USER, team), home)
    envelopes = []
    with OfflineQueue(path) as queue:
        for n in range(4):
            event_id = new_ulid()
            envelopes.append(queue.append({
                "event_id": event_id, "event_type": "WPStatusChanged", "aggregate_id": f"WP{n}",
                "aggregate_type": "WorkPackage", "payload": {"n": n},
                "node_id": "node-eventsync", "lamport_clock": n, "build_id": "eventsync",
                "correlation_id": event_id, "schema_version": "3.0.0", "team_slug": team,
                "project_uuid": "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c"}))
    read = spec_kitty(python, READ_FILE, str(path), server, USER, team, home=home)
    check(read["expected_path"] == str(path),
          f"spec-kitty looks for this scope at the file eventsync wrote ({path.name})")
    check(read["size"] == 4, f"spec-kitty counts 4 queued events ({read['size']})")
    check([e["event_id"] for e in read["drained"]] == [e.event_id for e in envelopes],
          "spec-kitty drains them in order, ids unchanged")
    check(len(read["valid"]) == 4, "every drained envelope validates with spec_kitty_events.Event")
    check(read["after"] == 0, f"spec-kitty's process_batch_results cleared them ({read['after']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/eventsync-spec-kitty-3.2.5"))
    args = parser.parse_args(argv)
    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory(prefix="spec-kitty-roundtrip-") as tmp:
        migrate_and_drain(python, Path(tmp))
        eventsync_writes_spec_kitty_reads(python, Path(tmp))
    print(f"{len(FAILURES)} check(s) failed" if FAILURES else "all checks passed")
    return len(FAILURES)


if __name__ == "__main__":
    sys.exit(main())
