"""`make demo`: the main job end to end, in a temporary home, against real localhost receivers.

Starts two stub receivers on free loopback ports (the second fails every fifth request with a
503, as a flaky server would), appends a few hundred events, drains them to the first, adds the
second as a fresh target and re-drains the whole retained journal to it, shows status with the
retry and its reason, retries, and shows status again; then stops the receivers and removes the
temporary home. Every step is a real `eventsync` command, printed before it runs, and a long
output is cut to its first lines.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent / "eventsync"
EVENTS = 300
MAX_LINES = 8


def run(env: dict[str, str], *args: str, stdin: str | None = None, shown: str = "",
        ok: tuple[int, ...] = (0,), keep: int = MAX_LINES) -> str:
    print(f"$ eventsync {shown or shlex.join(args)}", flush=True)
    done = subprocess.run([str(BIN), *args], env=env, input=stdin, text=True,
                          capture_output=True, check=False)
    lines = (done.stdout + done.stderr).rstrip().splitlines()
    for line in lines[:keep]:
        print(f"  {line}", flush=True)
    if len(lines) > keep:
        print(f"  ... ({len(lines) - keep} more lines)", flush=True)
    if done.returncode not in ok:
        raise SystemExit(f"demo: `eventsync {' '.join(args)}` exited {done.returncode}")
    return done.stdout


def start_stub(env: dict[str, str], *faults: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([str(BIN), "stub", "serve", "--port", "0", *faults], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not first.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"demo: the stub receiver did not start ({first!r})")
    return proc, first.removeprefix("listening on ")


def sample_events() -> str:
    lines = []
    for i in range(EVENTS):
        lines.append(json.dumps({
            "event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 40:02d}",
            "aggregate_type": "WorkPackage",
            "payload": {"from": "planned", "to": "doing", "step": i},
        }))
    return "\n".join(lines) + "\n"


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="eventsync-demo-"))
    env = {**os.environ, "EVENTSYNC_HOME": str(home)}
    for name in ("EVENTSYNC_TARGET", "EVENTSYNC_SERVER_URL", "EVENTSYNC_LOAD_PLUGINS"):
        env.pop(name, None)
    servers: list[subprocess.Popen[str]] = []
    try:
        first, first_url = start_stub(env)
        second, second_url = start_stub(env, "--fail-every", "5")
        servers += [first, second]
        print(f"# home {home}\n# stub receivers: {first_url}, and {second_url} (a 503 on every "
              "fifth request)\n")
        print("# 1. append events and drain them")
        run(env, "sync", "targets", "add", "primary", "--type", "stub", "--url", first_url,
            "--activate")
        run(env, "events", "append", "WPCreated", "WP00", "--payload", '{"title": "Demo"}')
        run(env, "events", "import", "-", "--json", stdin=sample_events(),
            shown=f"events import - --json   # {EVENTS} generated events")
        run(env, "sync", "now")
        print("\n# 2. re-drain the whole retained journal to a fresh target")
        run(env, "sync", "targets", "add", "second", "--type", "stub", "--url", second_url)
        run(env, "sync", "now", "--target", "second", "--batch-size", "50", ok=(0, 3))
        print("\n# 3. status: delivered vs duplicate, and why the fresh target is behind")
        run(env, "sync", "status", keep=12)
        print("\n# 4. retry now instead of waiting for the backoff")
        run(env, "sync", "retry", "--target", "second")
        run(env, "sync", "now", "--target", "second", "--batch-size", "50", ok=(0, 3))
        run(env, "sync", "status", keep=12)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(home, ignore_errors=True)
    print("\ndemo finished: receivers stopped, temporary home removed")


if __name__ == "__main__":
    main()
