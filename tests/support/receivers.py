"""Helpers for the receiver tests: the tutorial's files, and what is on disk in a home."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "writing-a-receiver.md"
SAAS_ENV = "EVENTSYNC_ENABLE_SAAS_SYNC"
_BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```$", re.S | re.M)


def tutorial_files() -> dict[str, str]:
    """The tutorial's code blocks whose first line is `# FILENAME...`, by file name."""
    files = {}
    for block in _BLOCK.findall(TUTORIAL.read_text(encoding="utf-8")):
        first = block.splitlines()[0] if block else ""
        match = re.match(r"# ([\w.-]+\.(?:py|toml))\b", first)
        if match:
            files[match.group(1)] = block
    return files


def ledger_rows(home: Path, target: str) -> dict[str, tuple[str, int, bool]]:
    """`event_id -> (state, attempts, delivered_at is set)` for one target, read with a plain
    sqlite3 connection: what is really committed."""
    conn = sqlite3.connect(home / "eventsync.db")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "deliveries" not in tables:
            return {}
        cur = conn.execute(
            "SELECT j.event_id, d.state, d.attempts, d.delivered_at IS NOT NULL"
            " FROM deliveries d JOIN journal j ON j.seq = d.seq"
            " JOIN targets t ON t.id = d.target_id WHERE t.name = ? ORDER BY d.seq", (target,))
        return {row[0]: (row[1], row[2], bool(row[3])) for row in cur}
    finally:
        conn.close()


def ledger_details(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "eventsync.db")
    try:
        return [row[0] for row in conn.execute("SELECT detail FROM deliveries")]
    finally:
        conn.close()


def journal_rows(home: Path) -> list[tuple[Any, ...]]:
    """Every journal row as stored, to compare before and after a drain."""
    conn = sqlite3.connect(home / "eventsync.db")
    try:
        return conn.execute("SELECT seq, event_id, body FROM journal ORDER BY seq").fetchall()
    finally:
        conn.close()


def one_error(err: str) -> str:
    """The single `eventsync: error:` line of a failed command's stderr. Other lines (a warning
    about some unrelated plugin installed in the venv meanwhile) are not this test's business."""
    errors = [line for line in err.splitlines() if line.startswith("eventsync: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]
