"""WorkQueue: durable jobs with leases, fencing tokens and bounded attempts, in SQLite.

Failure modes of hand-rolled SQLite job queues, and what rules each out here:
- two workers claiming one job: the claim is ONE `UPDATE ... RETURNING` statement inside a write
  transaction, and returns exactly the rows it changed;
- a stale worker acking after its lease was taken over: every ack/fail/heartbeat is fenced by the
  lease token the claim handed out;
- a poison job looping forever: reclaiming an expired lease counts as an attempt, and a job past
  `max_attempts` goes to `error`;
- text timestamps compared as text: all times are integer epoch milliseconds;
- a failed statement leaving a write lock behind: every method runs in `Store.transaction()`,
  which always commits or rolls back;
- every lease scanning the whole job history, or the whole backlog: the claim takes the oldest
  available queued jobs and the oldest expired leases from two partial indexes, each read in
  index order and stopped at `limit`, so a lease costs O(limit), however long the queue. The
  queued half repeats the partial index's `state IN ('queued', 'in_progress')` term word for
  word, the only way SQLite's planner will use a partial index.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsync.store import Schema, Store


class JobState(enum.StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    SKIPPED = "skipped"
    ERROR = "error"


FINAL_STATES = (JobState.DONE, JobState.SKIPPED, JobState.ERROR)

SCHEMA = Schema(
    "jobs",
    (
        """
        CREATE TABLE jobs (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            key              TEXT NOT NULL,
            payload          TEXT NOT NULL,
            state            TEXT NOT NULL,
            attempts         INTEGER NOT NULL DEFAULT 0,
            last_error       TEXT,
            available_at     INTEGER NOT NULL,
            lease_owner      TEXT,
            lease_token      TEXT,
            lease_expires_at INTEGER,
            created_at       INTEGER NOT NULL,
            updated_at       INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX jobs_live_key ON jobs (key) WHERE state IN ('queued', 'in_progress');
        CREATE INDEX jobs_ready ON jobs (state, available_at)
            WHERE state IN ('queued', 'in_progress')
        """,
        "CREATE INDEX jobs_expiry ON jobs (lease_expires_at) WHERE state = 'in_progress'",
        # drain jobs once carried their target's raw URL (a password, a secret query value);
        # they name the target only now, and rows written before forget the URL
        "UPDATE jobs SET payload = json_remove(payload, '$.url')"
        " WHERE json_valid(payload) AND json_type(payload, '$.url') IS NOT NULL",
    ),
)

_COLUMNS = "id, key, payload, state, attempts, lease_token, lease_expires_at"
_EXPIRE_POISON = """
UPDATE jobs SET state = 'error', lease_owner = NULL, lease_token = NULL,
    lease_expires_at = NULL, updated_at = :now,
    last_error = 'lease expired ' || attempts || ' times without an ack'
WHERE state = 'in_progress' AND lease_expires_at <= :now AND attempts >= :max
"""
_AVAILABLE = """
SELECT id, available_at FROM jobs
WHERE state IN ('queued', 'in_progress') AND state = 'queued' AND available_at <= :now
ORDER BY available_at, id LIMIT :limit
"""
_EXPIRED = """
SELECT id, available_at FROM jobs
WHERE state = 'in_progress' AND lease_expires_at <= :now
ORDER BY lease_expires_at LIMIT :limit
"""
_CLAIM = f"""
UPDATE jobs SET state = 'in_progress', lease_owner = :owner,
    lease_token = lower(hex(randomblob(16))), lease_expires_at = :now + :ttl,
    attempts = attempts + 1, updated_at = :now
WHERE id IN (
    SELECT id FROM (
        SELECT id, available_at FROM ({_AVAILABLE})
        UNION ALL
        SELECT id, available_at FROM ({_EXPIRED})
    )
    ORDER BY available_at, id LIMIT :limit
)
RETURNING {_COLUMNS}
"""


@dataclass(frozen=True)
class Job:
    """A claimed (or inspected) job. `lease_token` fences every later call about it."""

    id: int
    key: str
    payload: Any
    state: str
    attempts: int
    lease_token: str | None
    lease_expires_at: int | None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def worker_identity(suffix: str = "") -> str:
    """`host:pid[:suffix]`, so a lease held by a dead local process can be recognised."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{suffix}" if suffix else base


class WorkQueue:
    """A durable job queue over one SQLite file (it may be the main `eventsync.db`)."""

    def __init__(self, path: str | os.PathLike[str], *, max_attempts: int = 5,
                 read_only: bool = False) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError("max_attempts must be a positive integer")
        self.store = Store(Path(path), read_only=read_only)
        self.max_attempts = max_attempts
        self.store.ensure(SCHEMA)

    def enqueue(self, key: str, payload: Any, *, delay: float = 0) -> bool:
        """Add a job unless one with `key` is already queued or in progress."""
        return self.add(key, payload, delay=delay) is not None

    def add(self, key: str, payload: Any, *, delay: float = 0) -> int | None:
        """`enqueue`, returning the new job's id (None when `key` was already live), so the
        caller can follow its own job to the end instead of queueing the key again."""
        now = now_ms()
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO jobs (key, payload, state, available_at, created_at,"
                " updated_at) VALUES (?, ?, 'queued', ?, ?, ?)",
                (key, json.dumps(payload, sort_keys=True), now + int(delay * 1000), now, now),
            )
            return cur.lastrowid if cur.rowcount == 1 else None

    def finished(self, job_id: int) -> tuple[str, str | None] | None:
        """`(state, last_error)` once the job reached a final state; None while it is live."""
        row = self.store.execute("SELECT state, last_error FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
        if row is None or row[0] not in FINAL_STATES:
            return None
        return row[0], row[1]

    def lease(self, worker_id: str, limit: int, lease_ttl_sec: float) -> list[Job]:
        """Claim up to `limit` due jobs (queued, or in progress with an expired lease)."""
        if limit < 1:
            return []
        params = {"now": now_ms(), "owner": worker_id, "ttl": int(lease_ttl_sec * 1000),
                  "limit": limit, "max": self.max_attempts}
        with self.store.transaction() as conn:
            conn.execute(_EXPIRE_POISON, params)
            rows = conn.execute(_CLAIM, params).fetchall()
        return sorted((_job(row) for row in rows), key=lambda job: job.id)

    def heartbeat(self, jobs: Iterable[Job], lease_ttl_sec: float) -> int:
        """Extend the leases the caller still holds by `lease_ttl_sec`; return how many."""
        now = now_ms()
        rows = [(now + int(lease_ttl_sec * 1000), now, job.id, job.lease_token) for job in jobs]
        if not rows:
            return 0
        with self.store.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ?"
                " AND lease_token = ? AND state = 'in_progress'", rows,
            )
            return conn.total_changes - before

    def ack(self, job: Job, outcome: str = "done") -> bool:
        """Finish a job; False when the caller no longer holds its lease."""
        if outcome not in FINAL_STATES:
            raise ValueError(f"ack outcome {outcome!r} is not one of {', '.join(FINAL_STATES)}")
        state = JobState(outcome)
        return self._fenced(job, "state = ?, lease_owner = NULL, lease_token = NULL,"
                                 " lease_expires_at = NULL", (state.value,))

    def fail_and_retry(self, job: Job, backoff_sec: float, max_attempts: int, error: str) -> bool:
        """Queue the job again after `backoff_sec`, or mark it `error` past `max_attempts`."""
        text = " ".join(str(error).split())[:500]
        if job.attempts >= max_attempts:
            return self._fenced(job, "state = 'error', last_error = ?, lease_owner = NULL,"
                                     " lease_token = NULL, lease_expires_at = NULL", (text,))
        return self._fenced(job, "state = 'queued', last_error = ?, available_at = ?,"
                                 " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL",
                            (text, now_ms() + int(backoff_sec * 1000)))

    def release(self, job: Job) -> bool:
        """Give a leased job back untouched (clean shutdown); the attempt is not counted."""
        return self._fenced(job, "state = 'queued', attempts = MAX(attempts - 1, 0),"
                                 " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL",
                            ())

    def reclaim_dead_owners(self) -> int:
        """Expire leases held by processes of this host that no longer exist.

        A `kill -9`ed drainer's lease would otherwise block its key until the TTL ran out.
        The update is fenced by the dead owner's token: another process may have reclaimed the
        job between the look-up and the update, and its live lease must not be expired.
        """
        prefix = f"{socket.gethostname()}:"
        cur = self.store.execute(
            "SELECT lease_token, id, lease_owner FROM jobs WHERE state = 'in_progress'"
            " AND lease_owner LIKE ?", (f"{prefix}%",),
        )
        dead = [(token, job_id) for token, job_id, owner in cur.fetchall()
                if owner.startswith(prefix) and not _alive(owner)]  # LIKE treats _ as a wildcard
        if not dead:
            return 0
        with self.store.transaction() as conn:
            before = conn.total_changes
            conn.executemany("UPDATE jobs SET lease_expires_at = 0 WHERE lease_token = ?"
                             " AND id = ? AND state = 'in_progress'", dead)
            return conn.total_changes - before

    def purge_finished(self, older_than_sec: float) -> int:
        """Delete done/skipped jobs finished longer ago than `older_than_sec` (errors are kept
        for inspection); a daemon enqueues a drain per target per round, forever."""
        cutoff = now_ms() - int(older_than_sec * 1000)
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM jobs WHERE state IN ('done', 'skipped')"
                                " AND updated_at < ?", (cutoff,)).rowcount

    def live_job(self, key: str) -> Job | None:
        """The queued or in-progress job with `key`, if any."""
        row = self.store.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE key = ? AND state IN ('queued', 'in_progress')",
            (key,),
        ).fetchone()
        return _job(row) if row else None

    def get(self, job_id: int) -> Job | None:
        row = self.store.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
        return _job(row) if row else None

    def has_ready(self) -> bool:
        """Whether a job could be leased right now."""
        params = {"now": now_ms(), "limit": 1}
        row = self.store.execute(
            f"SELECT EXISTS ({_AVAILABLE}) OR EXISTS ({_EXPIRED})", params,
        ).fetchone()
        return bool(row[0])

    def stats(self) -> dict[str, int]:
        """Counts per state plus `total`, `delayed` and `expired_leases`, in one query."""
        now = now_ms()
        cur = self.store.execute(
            "SELECT state, COUNT(*),"
            " SUM(state = 'queued' AND available_at > ?),"
            " SUM(state = 'in_progress' AND lease_expires_at <= ?)"
            " FROM jobs GROUP BY state", (now, now),
        )
        stats = {state.value: 0 for state in JobState} | {"total": 0, "delayed": 0,
                                                          "expired_leases": 0}
        for state, count, delayed, expired in cur:
            stats[state] = count
            stats["total"] += count
            stats["delayed"] += delayed or 0
            stats["expired_leases"] += expired or 0
        return stats

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> WorkQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fenced(self, job: Job, assignments: str, params: tuple[Any, ...]) -> bool:
        with self.store.transaction() as conn:
            cur = conn.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ? AND lease_token = ?"
                " AND state = 'in_progress'", (*params, now_ms(), job.id, job.lease_token),
            )
            return cur.rowcount == 1


def _job(row: tuple[Any, ...]) -> Job:
    job_id, key, payload, state, attempts, token, expires = row
    return Job(job_id, key, json.loads(payload), state, attempts, token, expires)


def _alive(owner: str) -> bool:
    parts = owner.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        return True
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
    return True
