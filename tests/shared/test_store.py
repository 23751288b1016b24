"""The SQLite store: pragmas, connections, transactions that never leak a lock, migrations."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import eventsync
from eventsync.home import DB_NAME
from eventsync.journal.journal import SCHEMA as JOURNAL_SCHEMA
from eventsync.journal.journal import Journal
from eventsync.store import STORE_FORMAT, Schema, Store

WIDGETS_V1 = "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"
WIDGETS_V2 = "ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'red'; " \
             "CREATE INDEX widgets_colour ON widgets (colour)"


@pytest.fixture
def store(tmp_path: Path):
    opened = Store(tmp_path / "test.db")
    opened.ensure(Schema("widgets", (WIDGETS_V1,)))
    yield opened
    opened.close()


def write_now(path: Path) -> None:
    """Write from a fresh connection that refuses to wait: fails if any lock is still held."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO widgets (name) VALUES ('other')")
        conn.execute("COMMIT")
    finally:
        conn.close()


def names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM widgets ORDER BY id")]
    finally:
        conn.close()


def test_connection_is_tuned(store):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5_000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_FORMAT


def test_one_connection_per_thread_reused(store):
    seen: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: seen.extend([store.conn, store.conn]))
    thread.start()
    thread.join()
    assert store.conn is store.conn
    assert seen[0] is seen[1] and seen[0] is not store.conn


def test_close_closes_connections_of_every_thread(store):
    seen: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: seen.append(store.conn))
    thread.start()
    thread.join()
    mine = store.conn
    store.close()
    for conn in (mine, seen[0]):
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(eventsync.StorageError, match="closed"):
        store.execute("SELECT 1")


def test_transaction_commits(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO widgets (name) VALUES ('a')")
    assert names(store.path) == ["a"]


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()],
                         ids=["exception", "keyboard-interrupt"])
def test_an_exception_rolls_back_and_releases_the_write_lock(store, error):
    with pytest.raises(type(error)), store.transaction() as conn:
        conn.execute("INSERT INTO widgets (name) VALUES ('lost')")
        raise error
    write_now(store.path)
    assert names(store.path) == ["other"]
    with store.transaction() as conn:
        conn.execute("INSERT INTO widgets (name) VALUES ('mine')")
    assert names(store.path) == ["other", "mine"]


def test_a_sqlite_error_becomes_a_one_line_storage_error_and_rolls_back(store):
    with pytest.raises(eventsync.StorageError) as caught, store.transaction() as conn:
        conn.execute("INSERT INTO widgets (name) VALUES ('lost')")
        conn.execute("INSERT INTO widgets (name) VALUES (NULL)")
    assert "\n" not in str(caught.value) and str(store.path) in str(caught.value)
    write_now(store.path)
    assert names(store.path) == ["other"]


def test_another_thread_can_write_right_after_a_failed_transaction(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO widgets (name) VALUES ('lost')")
        raise RuntimeError("boom")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            quick = Store(store.path, busy_timeout_ms=0)
            with quick.transaction() as conn:
                conn.execute("INSERT INTO widgets (name) VALUES ('thread')")
            quick.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert errors == []
    assert names(store.path) == ["thread"]


def test_a_lock_held_elsewhere_times_out_as_a_one_line_storage_error(tmp_path):
    path = tmp_path / "busy.db"
    holder = Store(path)
    holder.ensure(Schema("widgets", (WIDGETS_V1,)))
    waiter = Store(path, busy_timeout_ms=50)
    with (holder.transaction(), pytest.raises(eventsync.StorageError, match="busy") as caught,
          waiter.transaction() as conn):
        conn.execute("INSERT INTO widgets (name) VALUES ('x')")
    assert "\n" not in str(caught.value)
    holder.close()
    waiter.close()


# --- schema versions -------------------------------------------------------------------------


def test_a_component_migrates_forward_keeping_its_data(tmp_path):
    path = tmp_path / "m.db"
    with Store(path) as old:
        old.ensure(Schema("widgets", (WIDGETS_V1,)))
        old.execute("INSERT INTO widgets (name) VALUES ('kept')")
    with Store(path) as new:
        new.ensure(Schema("widgets", (WIDGETS_V1, WIDGETS_V2)))
        rows = new.execute("SELECT name, colour FROM widgets").fetchall()
        version = new.execute(
            "SELECT version FROM schema_version WHERE component = 'widgets'").fetchone()[0]
    assert rows == [("kept", "red")]
    assert version == 2


def test_components_share_a_file_and_move_independently(tmp_path):
    path = tmp_path / "m.db"
    with Store(path) as store:
        store.ensure(Schema("widgets", (WIDGETS_V1,)))
        store.ensure(Schema("gadgets", ("CREATE TABLE gadgets (id INTEGER PRIMARY KEY)",)))
        versions = dict(store.execute("SELECT component, version FROM schema_version"))
    assert versions == {"widgets": 1, "gadgets": 1}


def build_v1_journal(home: Path) -> None:
    """A home written by an eventsync whose journal was at schema v1, built by hand."""
    home.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(home / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (component TEXT PRIMARY KEY,"
                 " version INTEGER NOT NULL)")
    for statement in JOURNAL_SCHEMA.steps[0].split(";"):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES ('journal', 1)")
    conn.execute(f"PRAGMA user_version = {STORE_FORMAT}")
    body = ('{"aggregate_id":"WP01","aggregate_type":"","event_id":"01HZY8J6ZC4M1V3T9Q2K7XW5RB",'
            '"event_type":"Old","family":"teamspace","payload":{"v":1},"producer":null,'
            '"timestamp":"2024-05-01T10:00:00.000Z"}')
    conn.execute("INSERT INTO journal (event_id, event_type, aggregate_id, family, body,"
                 " body_bytes, appended_at) VALUES (?, 'Old', 'WP01', 'teamspace', ?, ?, 0)",
                 ("01HZY8J6ZC4M1V3T9Q2K7XW5RB", body, len(body)))
    conn.close()


def test_an_older_journal_schema_is_migrated_forward_and_keeps_its_events(home):
    assert JOURNAL_SCHEMA.version >= 1
    build_v1_journal(home)
    with Journal.open() as journal:
        old = journal.get("01HZY8J6ZC4M1V3T9Q2K7XW5RB")
        new = journal.append("New", "WP02")
        assert old is not None and old.payload == {"v": 1}
        assert [row.event.event_type for row in journal.rows()] == ["Old", "New"]
        version = journal.store.execute(
            "SELECT version FROM schema_version WHERE component = 'journal'").fetchone()[0]
        seqs = [row.seq for row in journal.rows()]
    assert version == JOURNAL_SCHEMA.version
    assert seqs == sorted(seqs) and new.event_id > old.event_id


def test_an_older_journal_schema_migrates_from_the_cli_too(home, cli):
    build_v1_journal(home)
    res = cli("events", "list", "--json")
    assert res.code == 0, res.err
    assert [e["event_type"] for e in res.json()] == ["Old"]


def test_a_store_format_from_a_newer_eventsync_is_refused(home, cli):
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / DB_NAME)
    conn.execute(f"PRAGMA user_version = {STORE_FORMAT + 1}")
    conn.close()
    with pytest.raises(eventsync.StorageError, match=r"newer eventsync.*upgrade eventsync"):
        Journal.open()
    res = cli("events", "list")
    assert res.code != 0
    assert res.err.count("\n") == 1 and "newer eventsync" in res.err
    assert "Traceback" not in res.err


def test_a_journal_schema_from_a_newer_eventsync_is_refused_and_left_alone(home, cli):
    build_v1_journal(home)
    conn = sqlite3.connect(home / DB_NAME)
    with conn:
        conn.execute("UPDATE schema_version SET version = ? WHERE component = 'journal'",
                     (JOURNAL_SCHEMA.version + 1,))
    conn.close()
    with pytest.raises(eventsync.StorageError, match=r"journal schema v\d+ is newer"):
        Journal.open()
    res = cli("events", "append", "A", "WP1")
    assert res.code != 0 and res.err.count("\n") == 1 and "newer" in res.err
    conn = sqlite3.connect(home / DB_NAME)
    assert conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1
    conn.close()


def test_a_file_that_is_not_a_database_is_a_one_line_error(home, cli):
    home.mkdir(parents=True)
    (home / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(eventsync.StorageError, match="not an eventsync database"):
        Journal.open()
    res = cli("events", "list")
    assert res.code != 0 and res.err.count("\n") == 1 and "Traceback" not in res.err


def open_and_append(path: Path, barrier: threading.Barrier, errors: list[BaseException]) -> None:
    store = Store(path)
    try:
        barrier.wait()
        Journal(store).append("Opened", "x")
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        store.close()


def test_many_connections_opening_a_brand_new_file_at_once_never_fail(tmp_path):
    """Switching a new file to WAL races between openers; none of them may see "locked"."""
    for round_ in range(20):
        path = tmp_path / f"fresh{round_}.db"
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=open_and_append, args=(path, barrier, errors))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with Store(path) as store:
            assert len(Journal(store)) == 8
