"""`sync migrate` through the CLI: plural legacy files into the journal, nothing lost or forged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from support.lifecycle import digest_for, event, file_hash, raw_rows, write_queue

from eventsync.home import DB_NAME

URL_A, URL_B = "https://a.example/api", "https://b.example"


@pytest.fixture
def legacy(home: Path, add_target, journal) -> dict:
    """Two targets, one digest file each, one unknown scope, a duplicate, a conflict, garbage.

    The conflicting event is already in the journal, so which file is read first never matters.
    """
    add_target("alpha", URL_A, user="ana", team="core")
    add_target("beta", URL_B)
    shared = event(aggregate_id="WP01", status="done")
    clash = event(aggregate_id="WP02", status="doing")
    journal.append_event(clash)
    files = {
        "alpha": write_queue(home / f"queue-{digest_for(URL_A, 'ana', 'core')}.db",
                             [shared, *(event() for _ in range(3))]),
        "beta": write_queue(home / f"queue-{digest_for(URL_B)}.db", [shared, event()]),
        "stray": write_queue(home / f"queue-{digest_for('https://gone.example')}.db",
                             [{**clash, "payload": {"status": "review"}}, event()]),
        "corrupt": home / "queue-00000000deadbeef.db",
    }
    files["corrupt"].write_bytes(b"this is not an sqlite database" * 100)
    return {"files": files, "shared": shared, "clash": clash}


def journal_ids(home: Path) -> list[str]:
    return [r[0] for r in raw_rows(home / DB_NAME, "SELECT event_id FROM journal ORDER BY seq")]


def by_name(report: dict, path: Path) -> dict:
    return next(f for f in report["files"] if Path(f["path"]).name == path.name)


def test_plural_sources_migrate_attach_dedupe_conflict_and_skip(cli, home, legacy):
    files = legacy["files"]
    before = {name: file_hash(path) for name, path in files.items()}

    res = cli("sync", "migrate", "--json")

    assert res.code == 1, res.err
    report = res.json()
    alpha, beta = by_name(report, files["alpha"]), by_name(report, files["beta"])
    stray, corrupt = by_name(report, files["stray"]), by_name(report, files["corrupt"])
    assert (alpha["target"], alpha["status"]) == ("alpha", "migrated")
    assert (beta["target"], beta["status"]) == ("beta", "migrated")
    assert alpha["imported"] + alpha["duplicate"] == 4
    assert beta["imported"] + beta["duplicate"] == 2
    assert (stray["target"], stray["imported"], stray["conflict"]) == ("unknown", 1, 1)
    assert stray["status"] == "incomplete"
    assert corrupt["status"] == "skipped" and "not a database" in corrupt["error"]
    assert (report["imported"], report["duplicate"]) == (6, 1)
    assert len(journal_ids(home)) == 7
    assert [c["event_id"] for c in report["conflicts"]] == [legacy["clash"]["event_id"]]
    assert "cannot be recovered" in report["note"]
    # provenance: the shared event imported once, both files recorded; sources untouched
    rows = raw_rows(home / DB_NAME, "SELECT source_file, target, outcome FROM"
                    " migration_provenance WHERE event_id = ?", (legacy["shared"]["event_id"],))
    assert sorted((Path(f).name, t) for f, t, _ in rows) == sorted([
        (files["alpha"].name, "alpha"), (files["beta"].name, "beta")])
    assert sorted(o for _, _, o in rows) == ["duplicate", "imported"]
    assert {name: file_hash(path) for name, path in files.items()} == before


def test_conflict_keeps_journal_bytes_and_exits_nonzero_until_resolved(cli, home, legacy):
    files = legacy["files"]
    files["corrupt"].unlink()
    clash_id = legacy["clash"]["event_id"]
    cli("sync", "migrate")
    stored = raw_rows(home / DB_NAME, "SELECT body FROM journal WHERE event_id = ?", (clash_id,))

    again = cli("sync", "migrate")
    assert again.code == 1
    assert "--resolve 1 --keep journal|source" in again.out
    assert raw_rows(home / DB_NAME, "SELECT body FROM journal WHERE event_id = ?",
                    (clash_id,)) == stored
    audit = raw_rows(home / DB_NAME, "SELECT COUNT(*) FROM migration_conflicts")
    assert audit == [(1,)]

    resolved = cli("sync", "migrate", "--resolve", "1", "--keep", "journal", "--json")
    assert resolved.code == 0, resolved.err
    assert resolved.json()["open_conflicts"] == 0
    final = cli("sync", "migrate", "--json")
    assert final.code == 0, final.out
    assert by_name(final.json(), files["stray"])["resolved"] == 1


def test_rerun_is_idempotent(cli, home, legacy):
    legacy["files"]["corrupt"].unlink()
    first = cli("sync", "migrate", "--json").json()
    provenance = raw_rows(home / DB_NAME, "SELECT * FROM migration_provenance ORDER BY 1, 2")

    second = cli("sync", "migrate", "--json").json()

    assert first["imported"] == 6 and second["imported"] == 0
    assert second["duplicate"] == first["imported"] + first["duplicate"]
    assert len(journal_ids(home)) == 7
    assert raw_rows(home / DB_NAME, "SELECT * FROM migration_provenance ORDER BY 1, 2") \
        == provenance


def test_dry_run_writes_nothing_and_prints_the_plan(cli, home, legacy):
    files = legacy["files"]
    before = {name: file_hash(path) for name, path in files.items()}

    res = cli("sync", "migrate", "--dry-run", "--cleanup")

    assert "dry run" in res.out and "would rename" in res.out
    assert "-> target alpha: planned" in res.out and "-> target unknown" in res.out
    assert journal_ids(home) == [legacy["clash"]["event_id"]]
    assert raw_rows(home / DB_NAME, "SELECT COUNT(*) FROM migration_provenance") == [(0,)]
    assert raw_rows(home / DB_NAME, "SELECT COUNT(*) FROM migration_conflicts") == [(0,)]
    assert {name: file_hash(path) for name, path in files.items()} == before
    assert all(path.exists() for path in files.values())


def test_dry_run_plans_cross_file_duplicates(cli, home, legacy):
    report = cli("sync", "migrate", "--dry-run", "--json").json()
    files = legacy["files"]
    assert by_name(report, files["alpha"])["duplicate"] + by_name(report, files["beta"])[
        "duplicate"] == 1
    assert by_name(report, files["stray"])["conflict"] == 1


def test_cleanup_renames_only_fully_migrated_files(cli, home, legacy):
    files = legacy["files"]

    res = cli("sync", "migrate", "--cleanup", "--json")

    assert res.code == 1
    for name in ("alpha", "beta"):
        assert not files[name].exists()
        assert files[name].with_name(files[name].name + ".migrated").exists()
    assert files["stray"].exists() and files["corrupt"].exists()
    renamed = files["alpha"].with_name(files["alpha"].name + ".migrated")
    rows = sqlite3.connect(renamed).execute("SELECT COUNT(*) FROM queue").fetchone()
    assert rows == (4,)
    rerun = cli("sync", "migrate", "--json").json()
    assert {Path(f["path"]).name for f in rerun["files"]} == {files["stray"].name,
                                                              files["corrupt"].name}


def test_keep_source_replaces_a_never_sent_event(cli, home, legacy):
    legacy["files"]["corrupt"].unlink()
    cli("sync", "migrate")
    res = cli("sync", "migrate", "--resolve", legacy["clash"]["event_id"], "--keep", "source")
    assert res.code == 0, res.err
    body = raw_rows(home / DB_NAME, "SELECT body FROM journal WHERE event_id = ?",
                    (legacy["clash"]["event_id"],))[0][0]
    assert json.loads(body)["payload"] == {"status": "review"}
    assert cli("sync", "migrate").code == 0


def test_keep_source_refused_once_the_event_was_sent(cli, home, legacy, store):
    from support.lifecycle import deliver

    from eventsync.delivery.targets import TargetRegistry

    legacy["files"]["corrupt"].unlink()
    cli("sync", "migrate")
    deliver(store, TargetRegistry(store).get("alpha"), {legacy["clash"]["event_id"]: "success"})

    res = cli("sync", "migrate", "--resolve", "1", "--keep", "source")

    assert res.code == 1 and "already sent to alpha" in res.err
    assert res.err.count("\n") == 1


def test_damaged_rows_are_reported_and_the_rest_of_the_file_moves(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    path = write_queue(home / "queue.db", [event(), event()])
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO queue (event_id, event_type, data, timestamp)"
                 " VALUES ('01HZZZZZZZZZZZZZZZZZZZZZZZ', 'X', '{broken', 2000000000)")
    conn.commit()
    conn.close()

    res = cli("sync", "migrate", "--cleanup", "--json")

    assert res.code == 1
    report = res.json()["files"][0]
    assert report["imported"] == 2 and report["status"] == "incomplete"
    assert report["damaged"][0].startswith("row 3: data is not valid JSON")
    assert path.exists()


def test_older_legacy_schema_without_body_column(cli, home):
    path = home / "queue.db"
    home.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, event_id TEXT, event_type TEXT,"
                 " aggregate_id TEXT, payload TEXT, timestamp TEXT)")
    old = event()
    conn.execute("INSERT INTO queue VALUES (1, ?, ?, ?, ?, ?)",
                 (old["event_id"], old["event_type"], old["aggregate_id"],
                  json.dumps(old["payload"]), "2024-05-01T10:00:00+00:00"))
    conn.commit()
    conn.close()

    report = cli("sync", "migrate", "--json").json()

    assert report["imported"] == 1 and report["files"][0]["target"] == "unknown"
    body = json.loads(raw_rows(home / DB_NAME, "SELECT body FROM journal")[0][0])
    assert body["timestamp"] == "2024-05-01T10:00:00.000Z"


def test_drain_to_file_output_is_a_migration_source(cli, home, tmp_path):
    from eventsync.queue.offline_queue import OfflineQueue

    events = [event(), event()]
    with OfflineQueue(tmp_path / "q.db") as queue:
        for item in events:
            queue.queue_event(item)
        queue.drain_to_file(tmp_path / "drained.jsonl")

    report = cli("sync", "migrate", str(tmp_path / "drained.jsonl"), "--json").json()

    assert report["imported"] == 2
    assert journal_ids(home) == [e["event_id"] for e in events]


def test_missing_path_is_one_line_and_writes_nothing(cli, home, tmp_path):
    res = cli("sync", "migrate", str(tmp_path / "nope"))
    assert res.code == 1 and res.err.count("\n") == 1 and "no such file" in res.err


def test_unknown_source_names_the_available_ones(cli, home):
    res = cli("sync", "migrate", "--source", "nope")
    assert res.code == 1 and "jsonl" in res.err and "offline-queue" in res.err


def test_reading_leaves_no_sidecar_files(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    write_queue(home / "queue.db", [event()])
    before = sorted(p.name for p in home.iterdir())
    cli("sync", "migrate", "--dry-run")
    assert sorted(p.name for p in home.iterdir() if p.name.startswith("queue")) == [
        n for n in before if n.startswith("queue")]


def test_a_queue_still_open_by_its_writer_is_read_through_its_wal(cli, home):
    from eventsync.queue.offline_queue import OfflineQueue

    home.mkdir(parents=True, exist_ok=True)
    with OfflineQueue(home / "queue.db") as queue:
        queue.queue_event(event())
        queue.queue_event(event())
        assert (home / "queue.db-wal").exists()
        report = cli("sync", "migrate", "--json").json()
    assert report["imported"] == 2
