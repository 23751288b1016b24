"""Helpers for the work-queue tests: worker subprocesses, raw rows, events as JSONL, query cost."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsync.work import WorkQueue

WORKER = Path(__file__).with_name("work_worker.py")


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file as another program would, bypassing WorkQueue."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def worker(mode: str, db: Path, *args: str) -> subprocess.Popen[str]:
    """`work_worker.py MODE DB ...` in its own Python process."""
    return subprocess.Popen([sys.executable, str(WORKER), mode, str(db), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def jsonl(count: int, prefix: str = "WP") -> str:
    return "".join(json.dumps({"event_type": "WPStatusChanged", "aggregate_id": f"{prefix}{i:03d}",
                               "payload": {"step": i}}) + "\n" for i in range(count))


def vm_steps(queue: WorkQueue, action: Callable[[], object]) -> int:
    """SQLite virtual-machine steps (in hundreds) that `action` costs on this thread."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    queue.store.conn.set_progress_handler(count, 100)
    try:
        action()
    finally:
        queue.store.conn.set_progress_handler(None, 100)
    return steps[0]
