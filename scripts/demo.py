"""`make demo`: the main job end to end, in a temporary home, against real localhost receivers.

Starts two stub receivers on free loopback ports (the second fails every fifth request with a
503, as a flaky server would), appends a few hundred events, drains them to the first, adds the
second as a fresh target and re-drains the whole retained journal to it, shows status with the
retry and its reason, retries, and shows status again. Last, a third stub answers as the
Teamspace server does (`stub serve --teamspace`): the SaaS opt-in gate, a stored token that has
expired and is refreshed, the Private Teamspace looked up, gzip batches with `X-Team-Slug`, and
the one hand-made event that is not a spec-kitty envelope kept back with its reason. Then it
stops the receivers and removes the temporary home. Every step is a real `eventsync` command,
printed before it runs, and a long output is cut to its first lines.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent / "eventsync"
EVENTS = 300
MAX_LINES = 8
SAAS = {"SPEC_KITTY_ENABLE_SAAS_SYNC": "1"}
TEAMSPACE_SECRETS = {"DEMO_TEAMSPACE_TOKEN": secrets.token_hex(16),
                     "DEMO_TEAMSPACE_REFRESH": secrets.token_hex(16)}


def run(env: dict[str, str], *args: str, stdin: str | None = None, shown: str = "",
        ok: tuple[int, ...] = (0,), keep: int = MAX_LINES, extra: dict[str, str] | None = None
        ) -> str:
    prefix = "".join(f"{name}={value} " for name, value in (extra or {}).items())
    print(f"$ {prefix}eventsync {shown or shlex.join(args)}", flush=True)
    done = subprocess.run([str(BIN), *args], env={**env, **(extra or {})}, input=stdin, text=True,
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
    """spec-kitty 3.2.5-shaped envelopes (what its CLI emits), so Teamspace takes them too."""
    lines = []
    for i in range(EVENTS):
        lines.append(json.dumps({
            "event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 40:02d}",
            "aggregate_type": "WorkPackage",
            "payload": {"from": "planned", "to": "doing", "step": i},
            "node_id": "a1b2c3d4e5f6", "lamport_clock": i + 1, "causation_id": None,
            "build_id": "demo-build", "correlation_id": "01JDX7Q9ZK8M3N4P5R00000001",
            "schema_version": "3.0.0", "project_uuid": "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c",
            "project_slug": "demo", "git_branch": "main",
        }))
    return "\n".join(lines) + "\n"


def teamspace_step(env: dict[str, str], url: str) -> None:
    print("\n# 5. the same journal to Teamspace (a stub that answers as the real server does)")
    run(env, "sync", "targets", "add", "teamspace", "--type", "teamspace", "--url", url)
    run(env, "sync", "now", "--target", "teamspace", ok=(1,))
    expired = {"access_token": "expired-access-token", "expires_in": 0,
               "refresh_token": TEAMSPACE_SECRETS["DEMO_TEAMSPACE_REFRESH"]}
    run(env, "auth", "set-token", "teamspace", stdin=json.dumps(expired),
        shown="auth set-token teamspace < token.json   # expired access token + refresh token")
    run(env, "sync", "now", "--target", "teamspace", extra=SAAS, ok=(0, 3))
    print("# what the Teamspace stub received:", flush=True)
    for request in stub_requests(url):
        print(f"  {request}", flush=True)


def stub_requests(url: str) -> list[str]:
    """One line per request the stub logged: method, path, and the headers that matter."""
    with urllib.request.urlopen(f"{url}/_stub/requests", timeout=10) as answer:
        logged = json.load(answer)["requests"]
    lines = []
    for request in logged:
        headers = request["headers"]
        facts = [f"{name}: {headers[name]}" for name in
                 ("X-Team-Slug", "X-Spec-Kitty-Sync-Protocol", "Content-Encoding")
                 if name in headers]
        if request.get("form"):
            facts.append(f"grant_type={request['form'].get('grant_type')}")
        if request.get("events") is not None:
            facts.append(f"{request['events']} events, {request['body_bytes']} bytes gzip of "
                         f"{request['decoded_bytes']}")
        lines.append(f"{request['method']} {request['path']}" + (f"  ({'; '.join(facts)})"
                                                                 if facts else ""))
    return lines


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="eventsync-demo-"))
    env = {**os.environ, "EVENTSYNC_HOME": str(home), **TEAMSPACE_SECRETS}
    for name in ("EVENTSYNC_TARGET", "EVENTSYNC_SERVER_URL", "EVENTSYNC_LOAD_PLUGINS",
                 "SPEC_KITTY_ENABLE_SAAS_SYNC", "EVENTSYNC_ENABLE_SAAS_SYNC",
                 "SPEC_KITTY_SYNC_DISABLE", "SPEC_KITTY_SAAS_URL"):
        env.pop(name, None)
    servers: list[subprocess.Popen[str]] = []
    try:
        first, first_url = start_stub(env)
        second, second_url = start_stub(env, "--fail-every", "5")
        teamspace, teamspace_url = start_stub(
            env, "--teamspace", "--auth-token-env", "DEMO_TEAMSPACE_TOKEN",
            "--refresh-token-env", "DEMO_TEAMSPACE_REFRESH")
        servers += [first, second, teamspace]
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
        teamspace_step(env, teamspace_url)
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
