"""spec-kitty 3.2.x's OfflineQueue semantics, through eventsync.OfflineQueue (SPEC-KITTY-COMPAT.md
§2.4, §2.5; CONTRACTS.md §3b): caps, replacement, never-queued types, coalescing, batch
results, project removal, its read and stats shapes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
import spec_kitty_events
from support.spec_kitty import PROJECT, envelope_325, make_queue_file, queue_rows

import eventsync
from eventsync import OfflineQueue, OfflineQueueFull
from eventsync.audit import AuditLog
from eventsync.home import DB_NAME
from eventsync.queue.offline_queue import STRICT_CAP, QueueStats
from eventsync.queue.spec_kitty_rules import EVICTED_TEAMSPACE
from eventsync.store import Store


def dossier(kind: str = "MissionDossierArtifactIndexed", **payload) -> dict:
    return envelope_325(event_type=kind, aggregate_type="MissionDossier", payload=payload)


def test_caps_are_spec_kittys():
    assert eventsync.MAX_QUEUE_SIZE == OfflineQueue.MAX_QUEUE_SIZE == 100_000
    assert STRICT_CAP == 10_000


def test_default_eviction_cap_is_100_000(qpath: Path):
    with OfflineQueue(qpath) as queue:
        assert queue.max_queue_size == 100_000


def test_append_is_strict_at_10_000_by_default(tmp_path: Path):
    path = make_queue_file(tmp_path / "queue.db", [envelope_325() for _ in range(10_000)])
    with OfflineQueue(path) as queue:
        with pytest.raises(OfflineQueueFull) as caught:
            queue.append(envelope_325())
        assert (caught.value.cap, caught.value.current) == (10_000, 10_000)
        assert queue.queue_event(envelope_325()) is True  # the evicting path still takes it
        assert queue.size() == 10_001


def test_append_takes_a_cap_and_never_evicts(qpath: Path, capfd):
    with OfflineQueue(qpath) as queue:
        for _ in range(3):
            queue.append(envelope_325(), cap=3)
        with pytest.raises(OfflineQueueFull) as caught:
            queue.append(envelope_325(), cap=3)
        assert (caught.value.cap, caught.value.current) == (3, 3)
        assert queue.size() == 3
    assert "evicted" not in capfd.readouterr().err


def test_a_queued_duplicate_event_id_is_replaced(qpath: Path):
    first = envelope_325(payload={"v": 1})
    with OfflineQueue(qpath) as queue:
        queue.queue_event(first)
        queue.queue_event({**first, "payload": {"v": 2}})
        assert queue.size() == 1
        assert queue.drain_queue(5)[0]["payload"] == {"v": 2}
    assert len(queue_rows(qpath)) == 1


@pytest.mark.parametrize("kind", ["DecisionInputRequested", "DecisionInputAnswered"])
def test_decision_events_are_never_queued(qpath: Path, kind: str):
    with OfflineQueue(qpath) as queue:
        assert queue.queue_event(envelope_325(event_type=kind)) is True
        assert queue.size() == 0


def test_artifact_indexed_coalesces_by_project_mission_and_path(qpath: Path):
    ns = {"project_uuid": PROJECT, "mission_slug": "m1"}
    with OfflineQueue(qpath) as queue:
        queue.queue_event(dossier(namespace=ns, artifact_id={"path": "spec.md"}, v=1))
        newest = dossier(namespace=ns, artifact_id={"path": "spec.md"}, v=2)
        queue.queue_event(newest)
        queue.queue_event(dossier(namespace=ns, artifact_id={"path": "plan.md"}, v=1))
        assert queue.size() == 2
        kept = queue.drain_queue(5)
    assert kept[0]["event_id"] == newest["event_id"] and kept[0]["payload"]["v"] == 2
    assert [key for (key,) in queue_rows(qpath, "coalesce_key")] == [
        f"MissionDossierArtifactIndexed|{PROJECT}|m1|spec.md",
        f"MissionDossierArtifactIndexed|{PROJECT}|m1|plan.md"]


def test_coalescing_uses_the_legacy_fallbacks_and_empty_strings(qpath: Path):
    with OfflineQueue(qpath) as queue:
        queue.queue_event(dossier(mission_slug="m2", relative_path="a.md"))
        queue.queue_event(dossier("MissionDossierSnapshotComputed"))
    assert [key for (key,) in queue_rows(qpath, "coalesce_key")] == [
        f"MissionDossierArtifactIndexed|{PROJECT}|m2|a.md",
        f"MissionDossierSnapshotComputed|{PROJECT}|"]


def test_snapshot_computed_keeps_one_row_per_mission(qpath: Path):
    with OfflineQueue(qpath) as queue:
        for v in range(3):
            queue.queue_event(dossier("MissionDossierSnapshotComputed",
                                      namespace={"project_uuid": PROJECT, "mission_slug": "m"},
                                      v=v))
        assert queue.size() == 1


@pytest.mark.parametrize(("status", "rows", "retries"), [
    ("success", 0, None), ("duplicate", 0, None), ("failed_permanent", 0, None),
    ("rejected", 1, 1), ("pending", 1, 0), ("failed_transient", 1, 0)])
def test_process_batch_results_per_status(qpath: Path, status, rows, retries):
    envelope = envelope_325()
    with OfflineQueue(qpath) as queue:
        queue.queue_event(envelope)
        result = SimpleNamespace(event_id=envelope["event_id"], status=status)
        assert queue.process_batch_results([result]) == (1 - rows)
    assert [r for (r,) in queue_rows(qpath, "retry_count")] == ([] if retries is None
                                                                 else [retries])


def test_process_batch_results_takes_objects_and_dicts_in_one_transaction(qpath: Path):
    envelopes = [envelope_325() for _ in range(3)]
    with OfflineQueue(qpath) as queue:
        for envelope in envelopes:
            queue.queue_event(envelope)
        removed = queue.process_batch_results([
            SimpleNamespace(event_id=envelopes[0]["event_id"], status="success"),
            {"event_id": envelopes[1]["event_id"], "status": "rejected"},
            eventsync.DeliveryResult(envelopes[2]["event_id"],
                                     eventsync.DeliveryStatus.FAILED_TRANSIENT)])
        assert removed == 1 and queue.size() == 2
    assert queue_rows(qpath, "event_id, retry_count") == [(envelopes[1]["event_id"], 1),
                                                          (envelopes[2]["event_id"], 0)]


def test_remove_project_events_matches_envelope_payload_and_producer(qpath: Path):
    other = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    with OfflineQueue(qpath) as queue:
        queue.queue_event(envelope_325())  # envelope project_uuid
        queue.queue_event(envelope_325(project_uuid=other, payload={"project_uuid": PROJECT}))
        queue.queue_event({"event_type": "T", "aggregate_id": "A",
                           "producer": {"project": PROJECT}})
        queue.queue_event(envelope_325(project_uuid=other))
        assert queue.remove_project_events(PROJECT) == 3
        assert queue.size() == 1
        assert queue.remove_project_events("") == 0


def test_drain_queue_is_spec_kittys_order_and_shape(tmp_path: Path):
    envelopes = [envelope_325() for _ in range(3)]
    path = make_queue_file(tmp_path / "queue.db", envelopes)
    conn = sqlite3.connect(path)
    with conn:  # the first row was re-queued last: its enqueue second is the newest
        conn.execute("UPDATE queue SET timestamp = timestamp + 100 WHERE id = 1")
    conn.close()
    with OfflineQueue(path) as queue:
        drained = queue.drain_queue(10)
        assert [d["event_id"] for d in drained] == [envelopes[i]["event_id"] for i in (1, 2, 0)]
        assert all(isinstance(d, dict) for d in drained)
        assert queue.size() == 3  # drain_queue never removes


def test_what_drain_queue_hands_back_validates_with_spec_kitty_events(qpath: Path):
    with OfflineQueue(qpath) as queue:
        queue.queue_event(envelope_325())
        (envelope,) = queue.drain_queue(1)
    assert spec_kitty_events.Event(**envelope).event_id == envelope["event_id"]


def test_get_queue_stats_has_spec_kittys_fields(qpath: Path):
    with OfflineQueue(qpath) as queue:
        assert queue.get_queue_stats() == QueueStats(max_queue_size=100_000)
        envelopes = [envelope_325(drain_blocked_reason=r) for r in (None, "no_auth", None)]
        for envelope in envelopes:
            queue.queue_event(envelope)
        queue.increment_retry([envelopes[0]["event_id"]])
        stats = queue.get_queue_stats()
    assert stats.total_queued == 3 and stats.total_retried == 1
    assert stats.retry_distribution == {"0 retries": 2, "1-3 retries": 1}
    assert stats.top_event_types == [("WPStatusChanged", 3)]
    assert stats.drain_blocked_counts == {"ready": 2, "no_auth": 1}
    assert stats.oldest_event_age is not None and stats.oldest_event_age.total_seconds() >= 0


def test_stats_and_db_path(qpath: Path):
    with OfflineQueue(qpath, max_queue_size=7) as queue:
        queue.queue_event(envelope_325())
        stats = queue.stats()
        assert queue.db_path == qpath
    assert stats["events"] == 1 and stats["max_queue_size"] == 7 and stats["retried"] == 0


def test_eviction_warns_with_eventsyncs_commands_and_audits_teamspace_events(
        qpath: Path, audit_home: Path, capfd):
    first = envelope_325()
    local = {"event_type": "T", "aggregate_id": "L", "family": "local"}
    with OfflineQueue(qpath, max_queue_size=2) as queue:
        queue.queue_event(first)
        queue.queue_event(local)
        queue.queue_event(envelope_325())  # evicts the teamspace-family `first`
        queue.queue_event(envelope_325())  # evicts the local one: discardable, not audited
        assert queue.size() == 2
    err = capfd.readouterr().err
    assert "eventsync sync status --check" in err and "eventsync sync now" in err
    store = Store(audit_home / DB_NAME)
    try:
        entries = AuditLog(store).recent(EVICTED_TEAMSPACE)
    finally:
        store.close()
    assert [e.subject for e in entries] == [first["event_id"]]


def test_a_file_eventsync_wrote_is_what_spec_kittys_reader_expects(qpath: Path):
    """spec-kitty reads `SELECT event_id, data FROM queue ORDER BY timestamp, id` and
    json.loads `data`: the envelope must be there, whole."""
    envelope = envelope_325()
    with OfflineQueue(qpath) as queue:
        queue.queue_event(envelope)
    [(event_id, data)] = queue_rows(qpath, "event_id, data")
    assert event_id == envelope["event_id"]
    assert {k: json.loads(data)[k] for k in envelope} == envelope
