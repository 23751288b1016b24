"""`make demo`: the main job end to end, in a temporary home, against real localhost receivers.

Starts two stub receivers on free loopback ports, appends a few hundred events, drains them to the
first, shows status, adds the second target and re-drains the whole retained journal to it, shows
status again, then stops the receivers and removes the temporary home. Every step is a real
`eventsync` command, printed before it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent / "eventsync"
EVENTS = 300


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    print(f"$ eventsync {' '.join(args)}", flush=True)
    done = subprocess.run([str(BIN), *args], env=env, input=stdin, text=True,
                          capture_output=True, check=False)
    output = (done.stdout + done.stderr).rstrip()
    if output:
        print(output, flush=True)
    if done.returncode != 0:
        raise SystemExit(f"demo: `eventsync {' '.join(args)}` exited {done.returncode}")
    return done.stdout


def start_stub(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([str(BIN), "stub", "serve", "--port", "0"], env=env,
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
        second, second_url = start_stub(env)
        servers += [first, second]
        print(f"# home {home}; stub receivers at {first_url} and {second_url}\n")
        run(env, "sync", "targets", "add", "primary", "--type", "stub", "--url", first_url,
            "--activate")
        run(env, "events", "append", "WPCreated", "WP00", "--payload", '{"title": "Demo"}')
        run(env, "events", "import", "-", "--json", stdin=sample_events())
        run(env, "sync", "now")
        run(env, "sync", "status")
        print()
        run(env, "sync", "targets", "add", "second", "--type", "stub", "--url", second_url)
        run(env, "sync", "now", "--target", "second", "--json")
        run(env, "sync", "status")
        run(env, "sync", "targets", "list")
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
