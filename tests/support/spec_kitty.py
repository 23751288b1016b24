"""spec-kitty's real formats, built from the facts in SPEC-KITTY-COMPAT.md (never its code).

- `envelope_210` / `envelope_325`: what spec-kitty-cli 2.1.0 and 3.2.5 emit (§1.2);
- `make_queue_file`: a legacy `queue` table, schema S1 (no `coalesce_key`) or S2 (§2.2), with
  `data` the full envelope and `timestamp` the enqueue time in Unix seconds;
- `home_scope_digest`: the ≤3.2.5 file digest (§2.3), computed here independently.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

_serial = itertools.count(1)
PROJECT = "3f0e8c2a-6b1d-4c5e-9a7f-1d2e3f4a5b6c"


def _ulid(n: int) -> str:
    """A distinct, valid uppercase ULID per call (time prefix fixed, counter in the tail)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    tail = ""
    for _ in range(10):
        n, digit = divmod(n, 32)
        tail = alphabet[digit] + tail
    return "01JDX7Q9ZK8M3N4P5R" + tail[-8:]


def envelope_210(**overrides: Any) -> dict[str, Any]:
    """The 15 keys spec-kitty-cli 2.1.0 emits."""
    n = next(_serial)
    event_id = _ulid(n)
    envelope = {
        "event_id": event_id, "event_type": "WPStatusChanged", "aggregate_id": f"WP{n:02d}",
        "aggregate_type": "WorkPackage", "payload": {"wp_id": f"WP{n:02d}", "to": "doing"},
        "node_id": "a1b2c3d4e5f6", "lamport_clock": n, "causation_id": None,
        "timestamp": f"2026-11-30T10:{n % 60:02d}:00.{n:06d}+00:00",
        "team_slug": "team-blue", "project_uuid": PROJECT, "project_slug": "demo",
        "git_branch": "main", "head_commit_sha": "0" * 40, "repo_slug": "acme/demo",
    }
    envelope.update(overrides)
    return envelope


def envelope_325(**overrides: Any) -> dict[str, Any]:
    """2.1.0's keys plus schema_version, build_id, correlation_id and drain_blocked_reason."""
    envelope = envelope_210()
    envelope.update({"schema_version": "3.0.0", "build_id": "build-7",
                     "correlation_id": envelope["event_id"], "drain_blocked_reason": None,
                     "aggregate_type": "Mission"})
    envelope.update(overrides)
    return envelope


def home_scope_digest(server: str, user: str, team: str | None) -> str:
    """sha256 of `server|user|team` (stripped, lowercased, no trailing `/`, `no-team`)[:16]."""
    parts = [server.strip().lower().rstrip("/"), user.strip().lower(),
             (team or "").strip().lower() or "no-team"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def make_queue_file(path: Path, envelopes: list[dict[str, Any]], *, schema: str = "S2",
                    enqueued_at: int = 1_764_500_000) -> Path:
    """A legacy queue file holding `envelopes`, one row each, in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_id TEXT UNIQUE NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL,"
            " timestamp INTEGER NOT NULL, retry_count INTEGER DEFAULT 0)")
        conn.execute("CREATE INDEX idx_timestamp ON queue(timestamp)")
        conn.execute("CREATE INDEX idx_retry ON queue(retry_count)")
        if schema == "S2":
            conn.execute("ALTER TABLE queue ADD COLUMN coalesce_key TEXT")
            conn.execute("CREATE INDEX idx_coalesce_key ON queue(coalesce_key)")
        for offset, envelope in enumerate(envelopes):
            conn.execute(
                "INSERT INTO queue (event_id, event_type, data, timestamp) VALUES (?, ?, ?, ?)",
                (envelope["event_id"], envelope["event_type"], json.dumps(envelope),
                 enqueued_at + offset))
        conn.commit()
    finally:
        conn.close()
    return path


def queue_rows(path: Path, columns: str = "event_id") -> list[tuple[Any, ...]]:
    """Rows as another program reads them, in spec-kitty's drain order."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {columns} FROM queue ORDER BY timestamp, id").fetchall()
    finally:
        conn.close()
