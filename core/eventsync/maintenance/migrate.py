"""`sync migrate`: move events out of legacy files into the journal without losing or forging any.

Migration-source plugins find and read files; this module decides what each record is:
- `imported`: a new event_id, appended to the journal (due for every target like any event);
- `duplicate`: the journal already holds that event_id with the same content (event type,
  aggregate and canonical payload) — imported once, every file recorded as provenance;
- `restored`: the journal holds a gc tombstone for it — the payload goes back into that row, so
  its kept ledger history applies again;
- `conflict`: same event_id, different content — nothing is written for it, a conflict row (and
  an audit row) is kept, and the command fails until `--resolve ID --keep journal|source`.

A file is read completely and every record validated before anything is written, so an
unreadable file migrates nothing. Its events are written before its provenance, and it is renamed
(`--cleanup`) only after both: an interrupted run is finished by the next one, which is
idempotent. Queue files name a scope digest, which is one-way: a file attaches to the registered
target(s) whose scope hashes to that digest, or to the explicit `unknown` target.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsync.delivery.authority import target_scope
from eventsync.delivery.ledger import Ledger
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import EventSyncError, InvalidEvent, MigrationError
from eventsync.events import Event, build_event
from eventsync.journal.journal import UNKNOWN_ROUTE, Journal, reroute
from eventsync.journal.lifecycle import JournalLifecycle, StoredRow
from eventsync.plugins import Plugins
from eventsync.store import Schema, Store

UNKNOWN_TARGET = UNKNOWN_ROUTE
ALL_TARGETS = "*"
MIGRATED_SUFFIX = ".migrated"
UNRECOVERABLE_NOTE = ("only payloads still queued move: events the old queue already delivered "
                      "and deleted cannot be recovered")

SCHEMA = Schema(
    "migration",
    (
        """
        CREATE TABLE migration_provenance (
            event_id     TEXT NOT NULL,
            source_file  TEXT NOT NULL,
            source       TEXT NOT NULL,
            scope_digest TEXT,
            target       TEXT NOT NULL,
            outcome      TEXT NOT NULL,
            imported_at  INTEGER NOT NULL,
            PRIMARY KEY (event_id, source_file)
        ) WITHOUT ROWID;
        CREATE TABLE migration_conflicts (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id    TEXT NOT NULL,
            source_file TEXT NOT NULL,
            source      TEXT NOT NULL,
            source_body TEXT NOT NULL,
            detected_at INTEGER NOT NULL,
            resolution  TEXT,
            resolved_at INTEGER,
            UNIQUE (event_id, source_file)
        )
        """,
    ),
)

_PROVENANCE = (
    "INSERT INTO migration_provenance (event_id, source_file, source, scope_digest, target,"
    " outcome, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (event_id, source_file) DO NOTHING"
)
_CONFLICT = (
    "INSERT INTO migration_conflicts (event_id, source_file, source, source_body, detected_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id, source_file) DO NOTHING"
)
_UNRESOLVED = (
    "SELECT id, event_id, source_file, source, detected_at FROM migration_conflicts"
    " WHERE resolution IS NULL ORDER BY id"
)


class Outcome(enum.StrEnum):
    IMPORTED = "imported"
    DUPLICATE = "duplicate"
    RESTORED = "restored"
    CONFLICT = "conflict"
    RESOLVED = "resolved"


class FileStatus(enum.StrEnum):
    PLANNED = "planned"
    MIGRATED = "migrated"
    INCOMPLETE = "incomplete"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class SourceFile:
    """One file a source will read, and the target(s) its scope digest matched."""

    path: Path
    source: str
    reader: Any
    scope_digest: str | None
    targets: tuple[str, ...]
    scoped: bool = False

    @property
    def target(self) -> str:
        if self.targets:
            return ",".join(self.targets)
        return UNKNOWN_TARGET if self.scoped else ALL_TARGETS

    @property
    def route(self) -> str | None:
        """What the file's new events are due for: its scope digest when a target has that
        scope, `unknown` (nobody, until attached) when none has or its scope is unknowable,
        and None (every target, as for any event) for an unscoped source such as an archive."""
        if not self.scoped:
            return None
        return self.scope_digest if self.targets else UNKNOWN_ROUTE


@dataclass
class FilePlan:
    """Each valid record's fate, and the records that could not be read as events."""

    items: list[tuple[Outcome, Event]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    def events(self, outcome: Outcome) -> list[Event]:
        return [event for fate, event in self.items if fate is outcome]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for fate, _ in self.items if fate is outcome)


@dataclass
class FileReport:
    path: Path
    source: str
    target: str
    scope_digest: str | None
    status: FileStatus
    plan: FilePlan = field(default_factory=FilePlan)
    error: str | None = None
    renamed_to: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "source": self.source, "target": self.target,
            "scope_digest": self.scope_digest, "status": self.status.value,
            "records": len(self.plan.items) + len(self.plan.damaged),
            **{o.value: self.plan.count(o) for o in Outcome},
            "damaged": list(self.plan.damaged), "error": self.error,
            "renamed_to": str(self.renamed_to) if self.renamed_to else None,
        }


@dataclass
class MigrationReport:
    dry_run: bool
    files: list[FileReport]
    conflicts: list[dict[str, Any]]

    @property
    def complete(self) -> bool:
        """Nothing left behind: every file fully moved (or planned to) and no open conflict."""
        done = (FileStatus.PLANNED, FileStatus.MIGRATED)
        return not self.conflicts and all(
            f.status in done and not f.plan.damaged and not f.plan.count(Outcome.CONFLICT)
            for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "complete": self.complete,
            "files": [f.to_dict() for f in self.files],
            **{o.value: sum(f.plan.count(o) for f in self.files) for o in Outcome},
            "conflicts": self.conflicts, "note": UNRECOVERABLE_NOTE,
        }


def same_content(a: Event, b: Event) -> bool:
    """Identical for migration: event type, aggregate and canonical payload."""
    return (a.event_type, a.aggregate_id, a.payload_json) == (
        b.event_type, b.aggregate_id, b.payload_json)


class Migrator:
    """Plans and runs migrations into one store's journal."""

    def __init__(self, store: Store, plugins: Plugins, journal: Journal | None = None) -> None:
        self.store = store
        self.plugins = plugins
        self.journal = journal or Journal(store)
        self.lifecycle = JournalLifecycle(store)
        store.ensure(SCHEMA)

    def discover(self, paths: Iterable[Path], source_names: Iterable[str] = ()
                 ) -> list[SourceFile]:
        """Every file the chosen sources find under `paths`; a missing path is an error."""
        paths = list(paths)
        for path in paths:
            if not path.exists():
                raise MigrationError(f"no such file or directory: {path}")
        names = list(source_names) or sorted(self.plugins.registries["migration_sources"])
        readers = [(name, self.plugins.migration_source(name)()) for name in names]
        digests = self._target_digests()
        found: dict[Path, SourceFile] = {}
        for path in paths:
            root = path.resolve() if path.is_dir() else None
            for name, reader in readers:
                for file in reader.discover(path):
                    resolved = Path(file).resolve()
                    if resolved in found:
                        continue
                    source = reader
                    if root is not None and not resolved.is_relative_to(root):
                        # a link out of the directory: neither read nor (--cleanup) renamed
                        source = _OutsideLink(Path(file), path)
                    found[resolved] = _source_file(resolved, name, source, digests)
        return list(found.values())

    def run(self, files: list[SourceFile], *, dry_run: bool = False, cleanup: bool = False,
            progress: Callable[[int], None] | None = None) -> MigrationReport:
        """Migrate `files` in order; `progress(1)` after each one."""
        planned: dict[str, Event] = {}  # a dry run's stand-in for what earlier files would write
        reports = []
        for file in files:
            reports.append(self._migrate_file(file, planned, dry_run=dry_run))
            if progress is not None:
                progress(1)
        if cleanup and not dry_run:
            for report in reports:
                self._cleanup(report)
        return MigrationReport(dry_run, reports, self.unresolved())

    def unresolved(self) -> list[dict[str, Any]]:
        keys = ("id", "event_id", "source_file", "source", "detected_at")
        return [dict(zip(keys, row, strict=True)) for row in self.store.execute(_UNRESOLVED)]

    def resolve(self, ident: str, keep: str) -> dict[str, Any]:
        """Settle one conflict: keep the journal's version, or put the source's in its place."""
        if keep not in ("journal", "source"):
            raise MigrationError(f"--keep must be journal or source, not {keep!r}")
        conflict_id, event_id, source_file, body = self._find_conflict(ident)
        if keep == "source":
            self._keep_source(Event.from_json(body))
        with self.store.transaction() as conn:
            conn.execute("UPDATE migration_conflicts SET resolution = ?, resolved_at = ?"
                         " WHERE id = ?", (keep, _now_ms(), conflict_id))
        return {"id": conflict_id, "event_id": event_id, "source_file": source_file,
                "kept": keep, "open_conflicts": len(self.unresolved())}

    def attach(self, route: str, target_name: str) -> dict[str, Any]:
        """Give the events of `route` (normally `unknown`) to one target's scope, in one
        transaction: they become due for it (and for any target of the same scope), including
        those its cursor already passed, and their provenance names it."""
        target = TargetRegistry(self.store).get(target_name)
        scope = target_scope(target)
        new_route = scope.digests[0]
        peers = [t for t in TargetRegistry(self.store).list()
                 if new_route in target_scope(t).digests]
        ledger = Ledger(self.store)
        cursors = {t.id: ledger.cursor(t.id) for t in peers if t.id is not None}
        with self.store.transaction() as conn:
            seqs = reroute(conn, route, new_route)
            for target_id, cursor in cursors.items():
                Ledger.make_due(conn, target_id, seqs, cursor)
            conn.execute("UPDATE migration_provenance SET target = ?, scope_digest = ?"
                         " WHERE target = ?", (target.name, new_route, route))
        return {"attached": len(seqs), "from": route, "to": target.name,
                "scope_digest": new_route, "targets": sorted(t.name for t in peers)}

    def _target_digests(self) -> dict[str, list[str]]:
        digests: dict[str, list[str]] = {}
        for target in TargetRegistry(self.store).list():
            for digest in target_scope(target).digests:
                digests.setdefault(digest, []).append(target.name)
        return digests

    def _migrate_file(self, file: SourceFile, planned: dict[str, Event], *, dry_run: bool
                      ) -> FileReport:
        report = FileReport(file.path, file.source, file.target, file.scope_digest,
                            FileStatus.PLANNED)
        try:
            records = list(file.reader.read(file.path))
        except Exception as exc:  # a source plugin's failure must only cost this one file
            report.status, report.error = FileStatus.SKIPPED, _describe(exc)
            return report
        local: dict[str, Event] = {}
        report.plan = self._plan(file, records, planned, local)
        if not dry_run:
            try:
                self._write(file, report.plan)
            except EventSyncError as exc:
                report.status, report.error = FileStatus.FAILED, str(exc)
                return report
            report.status = self._settled(file, report.plan)
            return report
        planned.update(local)
        return report

    def _plan(self, file: SourceFile, records: list[tuple[str, Any]],
              planned: dict[str, Event], local: dict[str, Event]) -> FilePlan:
        """Classify every record; `local` collects what this file will write."""
        plan = FilePlan()
        events: list[Event] = []
        for where, data in records:
            try:
                events.append(_build(data))
            except InvalidEvent as exc:
                plan.damaged.append(f"{where}: {exc}")
        stored = self.lifecycle.lookup(e.event_id for e in events)
        kept_journal = self._resolved_for(file)
        for event in events:
            earlier = local.get(event.event_id) or planned.get(event.event_id)
            fate = _fate(event, stored.get(event.event_id), earlier,
                         event.event_id in kept_journal)
            if fate in (Outcome.IMPORTED, Outcome.RESTORED):
                local[event.event_id] = event
            plan.items.append((fate, event))
        return plan

    def _resolved_for(self, file: SourceFile) -> set[str]:
        cur = self.store.execute(
            "SELECT event_id FROM migration_conflicts WHERE source_file = ?"
            " AND resolution = 'journal'", (str(file.path),))
        return {row[0] for row in cur}

    def _write(self, file: SourceFile, plan: FilePlan) -> None:
        """Events first, then provenance and conflicts in one transaction, then the audit."""
        new = plan.events(Outcome.IMPORTED)
        if new:
            self.journal.ingest(new, route=file.route)
        missed = self.lifecycle.restore(plan.events(Outcome.RESTORED))
        if missed:
            raise MigrationError(f"event {missed[0]} changed during migration; run again")
        now = _now_ms()
        rows = [(event.event_id, str(file.path), file.source, file.scope_digest, file.target,
                 fate.value, now) for fate, event in plan.items if fate is not Outcome.CONFLICT]
        conflicts = [(event.event_id, str(file.path), file.source, event.to_json(), now)
                     for event in plan.events(Outcome.CONFLICT)]
        with self.store.transaction() as conn:
            conn.executemany(_PROVENANCE, rows)
            fresh = [c for c in conflicts if conn.execute(_CONFLICT, c).rowcount == 1]
        record_conflicts(self.store, fresh)

    def _settled(self, file: SourceFile, plan: FilePlan) -> FileStatus:
        open_here = self.store.execute(
            "SELECT COUNT(*) FROM migration_conflicts WHERE source_file = ?"
            " AND resolution IS NULL", (str(file.path),)).fetchone()[0]
        if plan.damaged or open_here or plan.count(Outcome.CONFLICT):
            return FileStatus.INCOMPLETE
        return FileStatus.MIGRATED

    def _cleanup(self, report: FileReport) -> None:
        """Rename a fully migrated file (and its WAL sidecars) to `*.migrated`."""
        if report.status is not FileStatus.MIGRATED:
            return
        target = report.path.with_name(report.path.name + MIGRATED_SUFFIX)
        if target.exists():
            report.error = f"not renamed: {target} already exists"
            return
        try:
            for suffix in ("-wal", "-shm"):
                sidecar = report.path.with_name(report.path.name + suffix)
                if sidecar.exists():
                    sidecar.rename(target.with_name(target.name + suffix))
            report.path.rename(target)
        except OSError as exc:
            report.error = f"not renamed: {exc.strerror or exc}"
            return
        report.renamed_to = target

    def _find_conflict(self, ident: str) -> tuple[Any, ...]:
        columns = "id, event_id, source_file, source_body"
        if ident.isdigit():
            rows = self.store.execute(
                f"SELECT {columns} FROM migration_conflicts WHERE id = ? AND resolution IS NULL",
                (int(ident),)).fetchall()
        else:
            rows = self.store.execute(
                f"SELECT {columns} FROM migration_conflicts WHERE event_id = ?"
                " AND resolution IS NULL", (ident,)).fetchall()
        if not rows:
            raise MigrationError(f"no open migration conflict {ident!r}"
                                 " (see `eventsync sync migrate --dry-run`)")
        if len(rows) > 1:
            ids = ", ".join(str(row[0]) for row in rows)
            raise MigrationError(f"event {ident} has several open conflicts ({ids});"
                                 " resolve them by id")
        return rows[0]

    def _keep_source(self, event: Event) -> None:
        """Replace the journal's version, but never one a target has already been sent."""
        stored = self.lifecycle.lookup([event.event_id]).get(event.event_id)
        if stored is not None:
            sent = Ledger(self.store).history(stored.seq)
            if sent:
                names = _target_names(self.store, [row["target_id"] for row in sent])
                raise MigrationError(
                    f"event {event.event_id} was already sent to {names}; its stored bytes"
                    " cannot change: resolve with --keep journal")
        expected = stored.body if stored is not None else None
        if stored is None:
            self.journal.append_event(event)
        elif not self.lifecycle.replace(event, expected):
            raise MigrationError(f"event {event.event_id} changed meanwhile; run the command again")


class _OutsideLink:
    """Stands in for the reader of a file found in a directory that resolves outside it."""

    def __init__(self, link: Path, directory: Path) -> None:
        self.link, self.directory = link, directory

    def read(self, _path: Path) -> Iterable[tuple[str, Any]]:
        raise MigrationError(f"{self.link} leads outside {self.directory}; not read "
                             "(give the file itself to migrate it)")


def record_conflicts(store: Store, conflicts: list[tuple[Any, ...]]) -> None:
    """One audit row per newly found conflict, when the audit log is available."""
    if not conflicts:
        return
    try:
        from eventsync.audit import AuditLog
    except ImportError:
        return
    log = AuditLog(store)
    for event_id, source_file, source, _body, _at in conflicts:
        log.record("migration_conflict", event_id,
                   f"{source} file {source_file} holds a different version of this event")


def _fate(event: Event, stored: StoredRow | None, planned: Event | None,
          kept_journal: bool) -> Outcome:
    if planned is not None:
        return Outcome.DUPLICATE if same_content(planned, event) else Outcome.CONFLICT
    if stored is None:
        return Outcome.IMPORTED
    if stored.body is None:
        same_row = (stored.event_type, stored.aggregate_id) == (event.event_type,
                                                                event.aggregate_id)
        return Outcome.RESTORED if same_row else Outcome.CONFLICT
    if stored.body == event.to_json() or same_content(Event.from_json(stored.body), event):
        return Outcome.DUPLICATE
    return Outcome.RESOLVED if kept_journal else Outcome.CONFLICT


def _build(data: Any) -> Event:
    """A source record as an event; one without an `event_id` is damaged, not a new event.

    `build_event` invents an id when none is given, which is right for producers but not here:
    every run of the migration would import the record again under yet another id.
    """
    if isinstance(data, BaseException):
        raise InvalidEvent(str(data))
    if isinstance(data, Event):
        data = data.to_dict()
    if isinstance(data, dict) and data.get("event_id") is None:
        raise InvalidEvent("the record has no event_id")
    return build_event(data)


def _source_file(path: Path, name: str, reader: Any, digests: dict[str, list[str]]
                 ) -> SourceFile:
    scope = getattr(reader, "scope_digest", None)
    digest = scope(path) if callable(scope) else None
    targets = tuple(sorted(digests.get(digest, ()))) if digest else ()
    return SourceFile(path, name, reader, digest, targets, scoped=callable(scope))


def _target_names(store: Store, target_ids: list[int]) -> str:
    names = {t.id: t.name for t in TargetRegistry(store).list()}
    return ", ".join(sorted(names.get(i, f"#{i}") for i in set(target_ids)))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, EventSyncError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def migration_summary(store: Store) -> dict[str, int]:
    """`sync status`'s `migration`: legacy files that gave events, and conflicts still open.

    Read-only: a home that never migrated has no migration tables, and that is zero of each.
    """
    if not _has_table(store, "migration_provenance"):
        return {"files": 0, "conflicts": 0}
    files = store.execute(
        "SELECT COUNT(DISTINCT source_file) FROM migration_provenance").fetchone()[0]
    conflicts = store.execute(
        "SELECT COUNT(*) FROM migration_conflicts WHERE resolution IS NULL").fetchone()[0]
    return {"files": int(files), "conflicts": int(conflicts)}


def provenance(store: Store, event_id: str) -> list[dict[str, Any]]:
    """Where a migrated event came from (`sync inspect`): one row per legacy file that held it."""
    if not _has_table(store, "migration_provenance"):
        return []
    keys = ("source_file", "source", "scope_digest", "target", "outcome", "imported_at")
    cur = store.execute(
        "SELECT source_file, source, scope_digest, target, outcome, imported_at"
        " FROM migration_provenance WHERE event_id = ? ORDER BY imported_at, source_file",
        (event_id,))
    return [dict(zip(keys, row, strict=True)) for row in cur]


def _has_table(store: Store, name: str) -> bool:
    return store.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (name,)).fetchone() is not None
