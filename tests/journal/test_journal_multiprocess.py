"""Several real processes appending to one home at once lose nothing and never see a lock."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from support.processes import wait_until

from eventsync.home import DB_NAME

WRITERS = 4
SINGLES = 200
BATCH = 1_200

# Each writer waits for the start file, so all of them open the brand-new database together,
# then interleaves single appends with an append_many that spans two transactions.
WRITER = """
import os, sys, time
from pathlib import Path
from eventsync import Journal

name, start, singles, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start.with_name(f"ready-{name}").touch()
while not start.exists():
    time.sleep(0.002)
with Journal.open() as journal:
    half = singles // 2
    for i in range(half):
        journal.append("Single", name, {"writer": name, "i": i})
    journal.append_many({"event_type": "Bulk", "aggregate_id": name,
                         "payload": {"writer": name, "i": i}} for i in range(batch))
    for i in range(half, singles):
        journal.append("Single", name, {"writer": name, "i": i})
"""


def test_concurrent_writers_lose_nothing_and_never_see_a_lock(home: Path, tmp_path: Path):
    start = tmp_path / "start"
    env = {**os.environ, "EVENTSYNC_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, f"w{n}", str(start), str(SINGLES),
                               str(BATCH)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for n in range(WRITERS)]
    # every writer is up and waiting (however slow the machine), so all of them start together
    wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == WRITERS
               or any(p.poll() is not None for p in procs), timeout=60)
    start.touch()
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, _, err in outcomes:
        assert "locked" not in err.lower() and "busy" not in err.lower(), err
        assert code == 0, err

    conn = sqlite3.connect(home / DB_NAME)
    rows = conn.execute("SELECT event_id, event_type, body FROM journal ORDER BY seq").fetchall()
    conn.close()
    assert len(rows) == WRITERS * (SINGLES + BATCH)
    assert len({event_id for event_id, _, _ in rows}) == len(rows)
    seen = {(etype, json.loads(body)["payload"]["writer"], json.loads(body)["payload"]["i"])
            for _, etype, body in rows}
    expected = {("Single", f"w{n}", i) for n in range(WRITERS) for i in range(SINGLES)} | {
        ("Bulk", f"w{n}", i) for n in range(WRITERS) for i in range(BATCH)}
    assert seen == expected


def test_concurrent_cli_imports_lose_nothing(home: Path, tmp_path: Path, eventsync_bin: str):
    env = {**os.environ, "EVENTSYNC_HOME": str(home)}
    files = []
    for n in range(WRITERS):
        path = tmp_path / f"w{n}.jsonl"
        path.write_text("".join(json.dumps({"event_type": "Imported", "aggregate_id": f"w{n}",
                                            "payload": {"i": i}}) + "\n" for i in range(500)))
        files.append(path)
    procs = [subprocess.Popen([eventsync_bin, "events", "import", str(path), "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for path in files]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, out, err in outcomes:
        assert (code, err) == (0, "")
        assert json.loads(out) == {"appended": 500, "duplicates": 0}
    conn = sqlite3.connect(home / DB_NAME)
    distinct = conn.execute("SELECT COUNT(DISTINCT event_id) FROM journal").fetchone()[0]
    conn.close()
    assert distinct == WRITERS * 500
