"""SQLite access shared by every table owner: connections, transactions, schema versions.

One connection per thread, reused (opening one costs more than most statements) and closed when
its thread ends (a daemon starts worker threads every round: connections that outlived them
were a file-descriptor leak), WAL so readers never block the writer, and a busy timeout so
concurrent processes wait instead of failing. Every write goes through `transaction()`, which
always commits or rolls back: an exception can never leave a write lock behind for other
threads to trip over.

Each table owner declares a `Schema` (a component name and its ordered steps). The file's
`PRAGMA user_version` is the store format; the `schema_version` table records how far each
component has migrated, so independently usable components (journal, ledger, jobs) can share one
file and still each move forward on their own.

A store opened `read_only` (the commands that only look: status, lists, inspect) never writes,
so it works on a read-only home or a full disk: it opens the file `mode=ro` (and `immutable=1`
when SQLite cannot even create the WAL's shared-memory file there), a missing file or a
component the file has never held reads as empty tables held in memory, and only a component
at an older schema still needs one write to upgrade it.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eventsync.errors import StorageError
from eventsync.home import create_private

STORE_FORMAT = 1
BUSY_TIMEOUT_MS = 30_000

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class Schema:
    """A component's migrations: step N takes the component from version N-1 to N."""

    component: str
    steps: tuple[str, ...]

    @property
    def version(self) -> int:
        return len(self.steps)


def describe_sqlite_error(exc: sqlite3.Error, path: Path | str) -> str:
    """A one-line, actionable description of a SQLite failure."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return f"database {path} is busy (another process holds it too long); retry"
    if "readonly" in lowered or "read-only" in lowered:
        return f"database {path} is read-only; check the permissions of the eventsync home"
    if "disk is full" in lowered or "database or disk is full" in lowered:
        return f"no space left for database {path}"
    if "malformed" in lowered or "not a database" in lowered:
        return f"database {path} is damaged or not an eventsync database ({text})"
    if "unable to open" in lowered:
        return f"cannot open database {path}; check that its directory exists and is writable"
    return f"database {path}: {text}"


@contextlib.contextmanager
def sqlite_errors(path: Path | str) -> Iterator[None]:
    """Turn sqlite3 errors into `StorageError` with a one-line message."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(describe_sqlite_error(exc, path)) from exc


def connect(path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A tuned connection in autocommit mode; transactions are explicit. A new file is 0600."""
    create_private(Path(path))
    with sqlite_errors(path):
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False,
            timeout=busy_timeout_ms / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _enable_wal(conn, busy_timeout_ms)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write, even to the WAL index, with errors translated.

    `mode=ro` still needs the `-shm` file of a WAL database to exist or be creatable; where
    it is neither (a read-only filesystem, a full disk), `immutable=1` reads the file as it is,
    which is right there because nothing else can be writing it either.
    """
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    with sqlite_errors(path):
        try:
            return _probed(sqlite3.connect(uri, uri=True, isolation_level=None,
                                           check_same_thread=False))
        except sqlite3.OperationalError as exc:
            if not _cannot_share_memory(exc):
                raise
        return _probed(sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None,
                                       check_same_thread=False))


def _probed(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Read the schema now, so a file SQLite cannot open fails here rather than mid-command."""
    try:
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _cannot_share_memory(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("unable to open", "readonly", "read-only", "disk i/o",
                                         "full"))


def _enable_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Switch a new file to WAL, waiting out other processes doing the same.

    Leaving rollback mode needs an exclusive lock; when several processes open a brand-new file
    at once, each holds a shared lock while asking for it, and SQLite answers "database is
    locked" at once instead of calling the busy handler (waiting could deadlock). Backing off
    and retrying resolves it: the first to succeed makes the mode persistent for everyone.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class _ThreadConnection:
    """Holds one thread's connection in the Store's thread-local, and closes it when dropped.

    Python drops a thread's thread-local values when the thread ends, so the connection goes
    with its thread; the Store keeps only weak references, for `close()`.
    """

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __del__(self) -> None:
        self.close()


class Store:
    """One SQLite file: per-thread connections, explicit transactions, component schemas."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS,
                 read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._stand_ins: dict[str, _ThreadConnection] = {}
        self._migrated: set[str] = set()
        self._closed = False
        weakref.finalize(self, _close_all, self._conns)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        held = getattr(self._local, "held", None)
        if held is None:
            if self._closed:
                raise StorageError(f"database {self.path} is closed")
            held = _ThreadConnection(self._open())
            self._local.held = held
            with self._lock:
                self._conns.add(held)
        return held.conn

    def _open(self) -> sqlite3.Connection:
        if not self.read_only:
            return connect(self.path, busy_timeout_ms=self._busy_timeout_ms)
        if self.path.exists():
            conn = connect_read_only(self.path)
        else:
            conn = sqlite3.connect("file::memory:", uri=True, isolation_level=None,
                                   check_same_thread=False)
        with self._lock:
            stand_ins = list(self._stand_ins)
        for name in stand_ins:
            _attach(conn, name)
        return conn

    def open_connections(self) -> int:
        """How many threads hold a connection of this store now (each closes with its thread)."""
        with self._lock:
            return len(self._conns)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` ... commit, or roll back on any exception.

        IMMEDIATE takes the write lock up front, so a read-then-write never hits the deadlock
        that SQLite reports as an instant "database is locked" without waiting.
        """
        conn = self.conn
        with sqlite_errors(self.path):
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StorageError(describe_sqlite_error(exc, self.path)) from exc
        except BaseException:
            _rollback(conn)
            raise
        with sqlite_errors(self.path):
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                _rollback(conn)
                raise

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """One autocommit statement (itself a transaction) with errors translated.

        A plain try/except rather than `sqlite_errors()`: this is on every append's path, where
        a generator context manager's microsecond is a measurable share of the cost.
        """
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StorageError(describe_sqlite_error(exc, self.path)) from exc

    def ensure(self, schema: Schema) -> None:
        """Bring `schema`'s component up to date, once per Store and component."""
        if schema.component in self._migrated:
            return
        conn = self.conn
        with sqlite_errors(self.path):
            store_format, current = _versions(conn, schema.component)
        if store_format > STORE_FORMAT:
            raise StorageError(f"database {self.path} was written by a newer eventsync "
                               f"(format {store_format}); upgrade eventsync")
        if current > schema.version:
            raise StorageError(_newer_schema(self.path, schema, current))
        if current < schema.version:
            if not self.read_only:
                self._migrate(conn, schema, store_format)
            elif current == 0:
                self._stand_in(schema)
            else:
                with Store(self.path, busy_timeout_ms=self._busy_timeout_ms) as writer:
                    writer.ensure(schema)
        self._migrated.add(schema.component)

    def _migrate(self, conn: sqlite3.Connection, schema: Schema, store_format: int) -> None:
        """The write path, taken only when a component is behind: most opens need no lock."""
        with sqlite_errors(self.path):
            conn.execute(_VERSION_TABLE)
            if store_format < STORE_FORMAT:
                conn.execute(f"PRAGMA user_version = {STORE_FORMAT}")
        with self.transaction() as tx:
            migrate_component(tx, schema, self.path)

    def _stand_in(self, schema: Schema) -> None:
        """Empty tables in memory for a component this file has never held, attached to every
        connection of this store: a reader sees "nothing yet" without the file being written."""
        name = f"stand_in_{next(_STAND_IN_NAMES)}"
        anchor = _ThreadConnection(sqlite3.connect(_memory_uri(name), uri=True,
                                                   isolation_level=None,
                                                   check_same_thread=False))
        for step in schema.steps:
            for statement in _statements(step):
                anchor.conn.execute(statement)
        with self._lock:
            self._stand_ins[name] = anchor
            conns = [held.conn for held in self._conns]
        with sqlite_errors(self.path):
            for conn in conns:
                _attach(conn, name)

    def close(self) -> None:
        """Close every connection this store opened, from any thread."""
        self._closed = True
        _close_all(self._conns)
        with self._lock:
            anchors, self._stand_ins = list(self._stand_ins.values()), {}
        for anchor in anchors:
            anchor.close()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def migrate_component(conn: sqlite3.Connection, schema: Schema, path: Path | str) -> int:
    """Apply the steps of `schema` not yet applied; the caller holds the write transaction."""
    row = conn.execute(
        "SELECT version FROM schema_version WHERE component = ?", (schema.component,)
    ).fetchone()
    current = row[0] if row else 0
    if current > schema.version:
        raise StorageError(_newer_schema(path, schema, current))
    for step in schema.steps[current:]:
        for statement in _statements(step):
            conn.execute(statement)
    if current < schema.version:
        conn.execute(
            "INSERT INTO schema_version (component, version) VALUES (?, ?) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            (schema.component, schema.version),
        )
    return schema.version


def _newer_schema(path: Path | str, schema: Schema, current: int) -> str:
    return (f"database {path}: {schema.component} schema v{current} is newer than this "
            f"eventsync (v{schema.version}); upgrade eventsync")


def _versions(conn: sqlite3.Connection, component: str) -> tuple[int, int]:
    """The file's store format and `component`'s schema version (0: never migrated), read
    without a lock: when both are current, opening a store writes nothing."""
    store_format = conn.execute("PRAGMA user_version").fetchone()[0]
    try:
        row = conn.execute("SELECT version FROM schema_version WHERE component = ?",
                           (component,)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        row = None
    return store_format, row[0] if row else 0


_STAND_IN_NAMES = itertools.count()


def _memory_uri(name: str) -> str:
    return f"file:eventsync-{name}?mode=memory&cache=shared"


def _attach(conn: sqlite3.Connection, name: str) -> None:
    """Unqualified names find main's tables first, then attached ones: a stand-in never hides
    a real table."""
    conn.execute(f"ATTACH DATABASE ? AS {name}", (_memory_uri(name),))


def _statements(script: str) -> list[str]:
    """Split a migration step into statements (DDL only: no semicolons inside literals)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _close_all(conns: weakref.WeakSet[_ThreadConnection]) -> None:
    for held in list(conns):
        held.close()
    conns.clear()
