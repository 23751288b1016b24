"""Legacy queue files (user_version 0) with damaged rows: the OfflineQueue opens them and offers
every good row, keeping the damaged ones; `sync migrate` imports every good row, names every
damaged one, never writes a partial file and never changes the file it reads."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from reliability_helpers import ANY_CHAR, HEAVY_FUZZ

from eventsync.errors import StorageError
from eventsync.events import new_ulid
from eventsync.journal.journal import Journal
from eventsync.maintenance.migrate import FileStatus, Migrator, Outcome
from eventsync.plugins import load_plugins
from eventsync.queue.offline_queue import OfflineQueue
from eventsync.store import Store

COLUMNS = ("event_id", "event_type", "aggregate_id", "payload", "timestamp")
# what a careless or crashed writer leaves in a column (sqlite3 stores each with its own type)
DAMAGE = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.binary(max_size=12),
    st.text(ANY_CHAR, max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=20), st.sampled_from(["{", "[]", '"x"', "NaN", "{\"a\": NaN}",
                                           "[" * 5_000 + "]" * 5_000, "\x00", "1" * 5_000]),
    st.just(b"\x80\xff"),  # written as TEXT below: not valid UTF-8
)


@st.composite
def legacy_rows(draw: st.DrawFn) -> tuple[list[dict[str, Any]], set[str]]:
    """Rows for a legacy file, and the event ids of the rows that are intact."""
    rows: list[dict[str, Any]] = []
    good: set[str] = set()
    for index in range(draw(st.integers(1, 8))):
        row: dict[str, Any] = {
            "event_id": new_ulid(), "event_type": "WPStatusChanged",
            "aggregate_id": f"WP{index:02d}", "payload": '{"to": "doing"}',
            "timestamp": draw(st.sampled_from(["2024-05-01T12:00:00.000Z", "1714564800",
                                               "1714564800123", "2024-05-01T14:00:00+02:00"])),
        }
        damaged = draw(st.sets(st.sampled_from(COLUMNS), max_size=2))
        for column in damaged:
            row[column] = draw(DAMAGE)
        rows.append(row)
        if not damaged:
            good.add(row["event_id"])
    # two rows whose damaged ids are the same text are one event to the queue (a duplicate
    # event_id replaces, as in spec-kitty: tests/queue/test_queue_spec_kitty.py), not a loss
    texts = [row["event_id"] for row in rows if isinstance(row["event_id"], str)]
    assume(len(texts) == len(set(texts)))
    return rows, good


def write_legacy(path: Path, rows: list[dict[str, Any]]) -> None:
    """A version-0 queue file; bytes meant as text are stored as TEXT, even when not UTF-8."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id, event_type,"
                 " aggregate_id, payload, timestamp, retry_count INTEGER DEFAULT 0,"
                 " coalesce_key)")
    for row in rows:
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(row[c], bytes) and row[c] == b"\x80\xff"
                          else "?" for c in COLUMNS)
        conn.execute(f"INSERT INTO queue ({', '.join(COLUMNS)}) VALUES ({marks})",
                     tuple(row[c] for c in COLUMNS))
    conn.commit()
    conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def fresh_dir(base: Path) -> Path:
    """A new directory per hypothesis example under the shared tmp_path."""
    index = len(list(base.iterdir()))
    path = base / f"example-{index}"
    path.mkdir()
    return path


@HEAVY_FUZZ
@given(case=legacy_rows())
def test_offline_queue_opens_a_damaged_legacy_file_and_offers_every_good_row(
        workdir: Path, case: tuple[list[dict[str, Any]], set[str]]) -> None:
    rows, good = case
    path = fresh_dir(workdir) / "queue.db"
    write_legacy(path, rows)
    try:
        queue = OfflineQueue(path)
    except StorageError as exc:
        pytest.fail(f"a damaged row made the whole queue unusable: {exc}")
    try:
        offered = {event.event_id for event in queue.peek(100)}
        assert good <= offered
        assert queue.size() == len(rows)  # damaged rows are kept, never silently dropped
        export = path.with_name("export.jsonl")
        assert queue.drain_to_file(export) == len(rows)
        assert len(export.read_text(encoding="utf-8").splitlines()) == len(rows)
        assert queue.size() == 0
    finally:
        queue.close()


@HEAVY_FUZZ
@given(case=legacy_rows())
def test_migrate_imports_every_good_row_and_names_every_damaged_one(
        workdir: Path, case: tuple[list[dict[str, Any]], set[str]]) -> None:
    rows, good = case
    where = fresh_dir(workdir)
    legacy = where / "legacy"
    legacy.mkdir()
    path = legacy / "queue-0123456789abcdef.db"
    write_legacy(path, rows)
    before = digest(path)
    store = Store(where / "eventsync.db")
    try:
        migrator = Migrator(store, load_plugins(), Journal(store))
        report = migrator.run(migrator.discover([legacy]))
        journal = Journal(store)
        (file,) = report.files
        assert file.status in (FileStatus.MIGRATED, FileStatus.INCOMPLETE), file.error
        assert all(journal.get(event_id) is not None for event_id in good)
        assert len(file.plan.items) + len(file.plan.damaged) == len(rows)
        assert len(journal) == len({event.event_id for _, event in file.plan.items})
        assert report.complete == (not file.plan.damaged)
        again = migrator.run(migrator.discover([legacy]))
        assert len(journal) == len({event.event_id for _, event in file.plan.items})
        assert again.files[0].plan.count(Outcome.IMPORTED) == 0
    finally:
        store.close()
    assert digest(path) == before
    assert sorted(p.name for p in legacy.iterdir()) == [path.name]


# -- regressions ---------------------------------------------------------------------------------


def test_a_row_whose_text_is_not_utf8_does_not_cost_the_good_rows(tmp_path: Path) -> None:
    """Reading a TEXT value that is not UTF-8 raises in sqlite3; it used to make the whole file
    unopenable (OfflineQueue) or skipped (migrate) instead of costing that one row."""
    good = {"event_id": new_ulid(), "event_type": "T", "aggregate_id": "A1", "payload": "{}",
            "timestamp": "2024-05-01T12:00:00.000Z"}
    bad = {**good, "event_id": new_ulid(), "aggregate_id": b"\x80\xff"}
    write_legacy(tmp_path / "queue.db", [good, bad])
    shutil.copy(tmp_path / "queue.db", tmp_path / "copy.db")
    store = Store(tmp_path / "eventsync.db")
    try:
        migrator = Migrator(store, load_plugins(), Journal(store))
        (file,) = migrator.run(migrator.discover([tmp_path / "copy.db"])).files
        assert file.status is FileStatus.INCOMPLETE
        assert [event.event_id for _, event in file.plan.items] == [good["event_id"]]
        assert len(file.plan.damaged) == 1 and file.plan.damaged[0].startswith("row 2")
    finally:
        store.close()
    with OfflineQueue(tmp_path / "queue.db") as queue:
        assert [e.event_id for e in queue.peek()] == [good["event_id"]]
        assert queue.size() == 2


def test_a_payload_nested_too_deeply_is_a_damaged_row(tmp_path: Path) -> None:
    """`json.loads` raises RecursionError, which the legacy upgrade did not expect."""
    deep = "[" * 100_000 + "]" * 100_000
    good = {"event_id": new_ulid(), "event_type": "T", "aggregate_id": "A1", "payload": "{}",
            "timestamp": "2024-05-01T12:00:00.000Z"}
    write_legacy(tmp_path / "queue.db", [good, {**good, "event_id": new_ulid(), "payload": deep}])
    with OfflineQueue(tmp_path / "queue.db") as queue:
        assert [e.event_id for e in queue.peek()] == [good["event_id"]]
        assert queue.size() == 2


def test_a_row_without_event_id_is_damaged_not_imported_again_on_every_run(
        tmp_path: Path) -> None:
    """`build_event` invents an id when none is given: a legacy row with a NULL event_id used to
    be imported under a new id by every `sync migrate` run, and in the OfflineQueue it was
    offered under an id its own row never matched, so delivery could never remove it."""
    row = {"event_id": None, "event_type": "T", "aggregate_id": "A1", "payload": "{}",
           "timestamp": "2024-05-01T12:00:00.000Z"}
    write_legacy(tmp_path / "queue.db", [row])
    shutil.copy(tmp_path / "queue.db", tmp_path / "copy.db")
    store = Store(tmp_path / "eventsync.db")
    try:
        migrator = Migrator(store, load_plugins(), Journal(store))
        for _ in range(2):
            (file,) = migrator.run(migrator.discover([tmp_path / "copy.db"])).files
            assert file.plan.damaged == ["row 1: the record has no event_id"]
        assert len(Journal(store)) == 0
    finally:
        store.close()
    with OfflineQueue(tmp_path / "queue.db") as queue:
        assert queue.peek() == [] and queue.size() == 1


@pytest.mark.parametrize("stamp", ["1714564800", "1714564800123", "1714564800.5"])
def test_migrate_reads_epoch_digits_from_a_text_timestamp_column(tmp_path: Path,
                                                                 stamp: str) -> None:
    """A legacy `timestamp TEXT` column stores an epoch number as digits; the OfflineQueue read
    those, while `sync migrate` called every such row damaged."""
    row = {"event_id": new_ulid(), "event_type": "T", "aggregate_id": "A1", "payload": "{}",
           "timestamp": stamp}
    write_legacy(tmp_path / "queue.db", [row])
    store = Store(tmp_path / "eventsync.db")
    try:
        migrator = Migrator(store, load_plugins(), Journal(store))
        (file,) = migrator.run(migrator.discover([tmp_path / "queue.db"])).files
        assert file.status is FileStatus.MIGRATED, file.plan.damaged
        stored = Journal(store).get(row["event_id"])
        assert stored is not None and stored.timestamp.startswith("2024-05-01T")
    finally:
        store.close()
