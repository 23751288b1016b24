"""Long jobs draw a progress bar on stderr when run on a terminal (a real pty here), and never
when piped or with `--json`; the one-line summary is printed either way."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest
from support.lifecycle import event, write_queue

EVENTS = 3000


def on_terminal(eventsync_bin: str, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as a person at a shell would."""
    main, child = pty.openpty()
    proc = subprocess.Popen([eventsync_bin, *args], stdin=subprocess.DEVNULL, stdout=child,
                            stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def piped(eventsync_bin: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([eventsync_bin, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "EVENTSYNC_HOME": str(home), "COLUMNS": "100"}


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"event_type": "Step", "aggregate_id": f"A{i}",
                                        "payload": {"n": i, "pad": "x" * 200}}) + "\n"
                            for i in range(EVENTS)))
    return path


def test_events_import(eventsync_bin, env, events_file):
    code, screen = on_terminal(eventsync_bin, env, "events", "import", str(events_file))
    assert code == 0
    assert "reading" in screen and "100%" in screen
    assert screen.rstrip().endswith(str(EVENTS))
    quiet = piped(eventsync_bin, env, "events", "import", str(events_file))
    # no bar on a pipe; the one stderr line is the re-run's note (every event already there)
    assert (quiet.returncode, quiet.stderr) == (0, f"eventsync: {EVENTS} of {EVENTS} events "
                                                   "were already in the journal and were not "
                                                   "appended again\n")
    assert quiet.stdout.splitlines()[-1].isdigit()


def test_events_import_json_on_a_terminal_draws_nothing(eventsync_bin, env, events_file):
    code, screen = on_terminal(eventsync_bin, env, "events", "import", str(events_file), "--json")
    assert code == 0
    assert "reading" not in screen
    assert json.loads(screen) == {"appended": EVENTS, "duplicates": 0}


def test_sync_archive(eventsync_bin, env, events_file, tmp_path):
    assert piped(eventsync_bin, env, "events", "import", str(events_file)).returncode == 0
    code, screen = on_terminal(eventsync_bin, env, "sync", "archive", "--to",
                               str(tmp_path / "a.jsonl"))
    assert code == 0
    assert "archiving" in screen and "100%" in screen
    assert f"archived {EVENTS} events to" in screen
    quiet = piped(eventsync_bin, env, "sync", "archive", "--to", str(tmp_path / "b.jsonl"))
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith(f"archived {EVENTS} events to")


def test_sync_gc(eventsync_bin, env, events_file):
    assert piped(eventsync_bin, env, "events", "import", str(events_file)).returncode == 0
    code, screen = on_terminal(eventsync_bin, env, "sync", "gc", "--policy", "max-events",
                               "--max-events", "1000")
    assert code == 0
    assert "deleting payloads" in screen and "100%" in screen
    assert f"deleted the payloads of {EVENTS - 1000} events" in screen
    quiet = piped(eventsync_bin, env, "sync", "gc", "--policy", "max-events", "--max-events", "0")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "deleted the payloads of 1000 events" in quiet.stdout


def test_sync_migrate(eventsync_bin, env, home):
    write_queue(home / "queue.db", [event() for _ in range(5)])
    code, screen = on_terminal(eventsync_bin, env, "sync", "migrate")
    assert code == 0
    assert "migrating files" in screen and "100%" in screen
    assert "total: 5 imported" in screen
    quiet = piped(eventsync_bin, env, "sync", "migrate")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "total: 0 imported, 5 duplicate" in quiet.stdout
