"""Re-running an import converges (issue 15.2): `events import` commits every 1,000 lines, and a
re-run after `kill -9` used to append the committed id-less lines again (100,000 lines became
152,000-193,000 events). Lines without an event_id now get ids derived from the input, so the
same file imported again ends with exactly one event per line, and says how many were there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.processes import wait_until

# 20 chunks: the kill lands after at least three commits, with thousands of lines still to go
LINES = 20_000


def write_lines(path: Path, count: int) -> Path:
    """Id-less events, many of them identical (the same line twice is still two events)."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({"event_type": "WPStatusChanged", "aggregate_id": f"WP{i % 7}",
                                  "payload": {"to": "doing"}}) + "\n")
    return path


def importing(eventsync_bin: str, home: Path, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([eventsync_bin, "events", "import", str(source), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "EVENTSYNC_HOME": str(home)})


def test_an_import_killed_mid_file_then_rerun_has_one_event_per_line(
        cli: Callable[..., Any], home: Path, tmp_path: Path, eventsync_bin: str,
        rows_on_disk: Callable[[], int]) -> None:
    source = write_lines(tmp_path / "big.jsonl", LINES)
    proc = importing(eventsync_bin, home, source)
    try:
        wait_until(lambda: rows_on_disk() >= 3_000 or proc.poll() is not None, timeout=120,
                   interval=0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    committed = rows_on_disk()
    assert 0 < committed < LINES, f"the kill must land mid-file ({committed} rows)"
    assert committed % 1_000 == 0, "whole chunks only"
    rerun = importing(eventsync_bin, home, source)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert json.loads(out) == {"appended": LINES - committed, "duplicates": committed}
    assert rows_on_disk() == LINES
    again = cli("events", "import", str(source))
    assert again.code == 0
    assert again.out.strip() == "0"
    assert again.err.strip() == (f"eventsync: {LINES} of {LINES} events were already in the "
                                 "journal and were not appended again")
    assert rows_on_disk() == LINES


def test_identical_lines_are_distinct_events_and_a_grown_file_adds_only_its_new_lines(
        cli: Callable[..., Any], tmp_path: Path, rows_on_disk: Callable[[], int]) -> None:
    line = json.dumps({"event_type": "T", "aggregate_id": "A1"}) + "\n"
    source = tmp_path / "log.jsonl"
    source.write_text(line * 3, encoding="utf-8")
    assert cli("events", "import", str(source), "--json").json()["appended"] == 3
    source.write_text(line * 5, encoding="utf-8")
    assert cli("events", "import", str(source), "--json").json() == {
        "appended": 2, "duplicates": 3}
    assert rows_on_disk() == 5
    ids = [event["event_id"] for event in cli("events", "list", "--json").json()]
    assert len(set(ids)) == 5


def test_given_ids_and_timestamps_are_kept(cli: Callable[..., Any], tmp_path: Path) -> None:
    source = tmp_path / "two.jsonl"
    source.write_text(
        json.dumps({"event_type": "T", "aggregate_id": "A", "event_id":
                    "01HZZZZZZZZZZZZZZZZZZZZZZZ"}) + "\n"
        + json.dumps({"event_type": "T", "aggregate_id": "B",
                      "timestamp": "2024-05-01T12:00:00Z"}) + "\n", encoding="utf-8")
    assert cli("events", "import", str(source)).code == 0
    first, second = cli("events", "list", "--json").json()
    assert first["event_id"] == "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    assert second["timestamp"].startswith("2024-05-01T12:00:00")
    assert second["event_id"][:10] == "01HWT0D7G0", "the ULID's time is the line's timestamp"


def test_a_generated_id_carries_the_lines_utc_time_in_either_spelling(
        cli: Callable[..., Any], tmp_path: Path) -> None:
    """`+00:00` is as much UTC as `Z`: the id's time part is the line's moment for both."""
    source = tmp_path / "utc.jsonl"
    source.write_text("".join(json.dumps({"event_type": "T", "aggregate_id": name,
                                          "timestamp": stamp}) + "\n"
                              for name, stamp in (("Z", "2024-05-01T12:00:00Z"),
                                                  ("plus", "2024-05-01T12:00:00+00:00"))),
                      encoding="utf-8")
    assert cli("events", "import", str(source)).code == 0
    assert [e["event_id"][:10] for e in cli("events", "list", "--json").json()] == [
        "01HWT0D7G0", "01HWT0D7G0"]
