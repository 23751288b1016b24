"""Selection costs O(batch): the queries a drain runs are index searches, never scans.

The statements are captured as SQLite runs them (trace callback) and their plans asked of SQLite,
so the test follows the ledger's real SQL rather than a copy of it.
"""

from __future__ import annotations

import pytest
from delivery_helpers import Spine, now_ms, results


def traced_selects(spine: Spine, target_id: int, limit: int) -> list[str]:
    seen: list[str] = []
    conn = spine.store.conn
    conn.set_trace_callback(seen.append)
    try:
        spine.ledger.next_batch(target_id, limit, due_by=now_ms() + 10**9,
                                up_to=spine.ledger.high_water())
    finally:
        conn.set_trace_callback(None)
    return [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]


def plan(spine: Spine, sql: str) -> list[str]:
    return [row[3] for row in spine.store.execute(f"EXPLAIN QUERY PLAN {sql}")]


@pytest.fixture(params=["no-stats", "analyzed"])
def history(spine: Spine, request) -> Spine:
    """A target with delivered history, some retries due, and new events behind its cursor."""
    spine.append(3000)
    target = spine.target()
    batch = spine.select(target.id, 2000)
    spine.ledger.record(target.id, batch, results(batch, "success"))
    batch = spine.select(target.id, 300)
    spine.ledger.record(target.id, batch, results(batch, "failed_transient"))
    other = spine.target("other")
    batch = spine.select(other.id, 3000)
    spine.ledger.record(other.id, batch, results(batch, "rejected"))
    if request.param == "analyzed":
        spine.store.execute("ANALYZE")
    return spine


def test_selection_uses_the_due_index_and_a_journal_rowid_range(history: Spine) -> None:
    target = history.registry.get("main")
    selects = traced_selects(history, target.id, 500)
    due = [sql for sql in selects if "next_attempt_at" in sql]
    new = [sql for sql in selects if "next_attempt_at" not in sql and "FROM journal j" in sql]
    assert due and new, selects

    due_plan = [step for sql in due for step in plan(history, sql)]
    assert any("deliveries_due" in step for step in due_plan), due_plan
    new_plan = [step for sql in new for step in plan(history, sql)]
    assert any(step.startswith("SEARCH j USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")
               for step in new_plan), new_plan

    for step in due_plan + new_plan:
        # `cursors` has one row per target: scanning it is O(targets), not O(history).
        assert not step.startswith("SCAN") or step == "SCAN cursors", step
        assert "TEMP B-TREE" not in step, f"sorting the whole selection: {step}"


def test_selection_reads_a_batch_not_the_history(history: Spine) -> None:
    """The journal rows a selection visits stay near the batch size, however long the history."""
    target = history.registry.get("main")
    visited = []
    conn = history.store.conn
    conn.set_progress_handler(lambda: visited.append(1), 10)
    try:
        history.ledger.next_batch(target.id, 50, due_by=now_ms() + 10**9,
                                  up_to=history.ledger.high_water())
        small = len(visited)
        visited.clear()
        history.ledger.next_batch(target.id, 50, due_by=0, up_to=history.ledger.high_water())
        only_new = len(visited)
    finally:
        conn.set_progress_handler(None, 0)
    scan = []
    conn.set_progress_handler(lambda: scan.append(1), 10)
    try:
        history.store.execute("SELECT COUNT(body) FROM journal").fetchone()
    finally:
        conn.set_progress_handler(None, 0)
    assert small * 5 < len(scan), (small, len(scan))
    assert only_new * 5 < len(scan), (only_new, len(scan))
