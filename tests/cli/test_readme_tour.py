"""The README's five-minute tour runs exactly as written, and `events import --help` documents
the line format with an example that imports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR_PORT = 8765


def tour_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Five-minute tour"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="the tour activates the repository's own .venv")
def test_the_readme_tour_runs_as_written(tmp_path):
    if not port_free(TOUR_PORT):
        pytest.skip(f"port {TOUR_PORT}, which the tour uses, is taken")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSYNC_")}
    env["TMPDIR"] = str(tmp_path)
    # files, not pipes: a stub left running by a failed step must not hold the output open
    with open(tmp_path / "out", "w") as out_file, open(tmp_path / "err", "w") as err_file:
        proc = subprocess.Popen(["bash", "-e", "-c", tour_block()], cwd=ROOT, env=env,
                                stdout=out_file, stderr=err_file, start_new_session=True)
        try:
            proc.wait(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # whatever a failed step left behind
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert proc.returncode == 0, f"{out}\n{err}"
    assert "eventsync, version " in out
    assert "\n12\n" in out  # events import prints how many it appended
    assert "doctor: 6 passed, 0 failed" in out
    assert re.search(r"^local: 13 attempted, 13 delivered, 0 duplicate, 0 retrying, "
                     r"0 terminal-failed$", out, re.M)
    assert "event 01M8SYSZP33JJ982D1K2Z4XCYD (journal seq 4)" in out
    assert re.search(r"^target local \[stub\]: success after 1 attempt$", out, re.M)


def test_the_example_file_is_valid_and_has_spec_kitty_envelopes():
    rows = [json.loads(line) for line in
            (ROOT / "examples" / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all({"event_type", "aggregate_id"} <= set(row) for row in rows)
    envelopes = [row for row in rows if "lamport_clock" in row]
    assert len(envelopes) >= 5
    assert all({"node_id", "project_uuid", "team_slug", "timestamp"} <= set(e) for e in envelopes)


def test_import_help_describes_the_line_format_with_an_example_that_works(cli):
    res = cli("events", "import", "--help")
    assert res.code == 0
    text = " ".join(res.out.split())
    assert "Required keys: event_type, aggregate_id." in text
    for key in ("event_id", "aggregate_type", "payload", "timestamp", "family", "producer"):
        assert key in text
    example = next(line.strip() for line in res.out.splitlines() if line.strip().startswith("{"))
    imported = cli("events", "import", "-", stdin=example + "\n")
    assert (imported.code, imported.out) == (0, "1\n")
