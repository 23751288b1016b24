"""Fixtures every test folder shares: an isolated home, an in-process CLI runner, a journal,
and real stub receivers (in-process, or `eventsync stub serve` subprocesses)."""

from __future__ import annotations

import compileall
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.processes import StubProcess

from eventsync.cli import run
from eventsync.delivery.targets import TargetRegistry
from eventsync.home import DB_NAME
from eventsync.journal.journal import Journal
from eventsync.receivers import Target
from eventsync.store import Store
from eventsync_stub.server import StubServer

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Write bytecode for this repository's sources before any test starts a process.

    Hundreds of tests run real `eventsync` processes. Where PYTHONDONTWRITEBYTECODE is set (as in
    some sandboxes and CI images) none of them caches what it compiled, so each one compiled
    every eventsync module again: about 0.2 s of CPU per process. Python reads bytecode even
    when told not to write it, and compileall writes it regardless; files that are up to date
    are only checked, so this costs a second or two once, then nothing.
    """
    for folder in ("core", "plugins", *(p.name for p in ROOT.glob("receivers_*"))):
        compileall.compile_dir(ROOT / folder, quiet=2, workers=1)


@dataclass
class CliResult:
    """What a user sees from one CLI invocation."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


# this repository's receiver distributions: the only plugins a test loads unless it says otherwise
OWN_DISTRIBUTIONS = "eventsync-stub,eventsync-external,eventsync-teamspace,eventsync-nats"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh EVENTSYNC_HOME; plugin and target env variables cleared so the host can't leak in.

    Plugins are limited to this repository's own (`EVENTSYNC_LOAD_PLUGINS`): the plugin tests
    install a broken or third-party distribution into the shared venv for their module, and with
    the suite running on two workers (`make test`) that install can happen while any other test
    runs; its warning would be one stderr line too many there. Tests about plugin loading set
    or remove the variable themselves.
    """
    path = tmp_path / "home"
    monkeypatch.setenv("EVENTSYNC_HOME", str(path))
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", OWN_DISTRIBUTIONS)
    for name in ("EVENTSYNC_TARGET", "EVENTSYNC_SERVER_URL",
                 "EVENTSYNC_STRICT_PLUGINS", "EVENTSYNC_ENABLE_SAAS_SYNC",
                 "SPEC_KITTY_ENABLE_SAAS_SYNC", "SPEC_KITTY_SYNC_DISABLE",
                 "SPEC_KITTY_SYNC_MINIMAL_IMPORT", "SPEC_KITTY_SAAS_URL"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def cli(home: Path, capfd: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `eventsync ARGS...` in-process and return exit code, stdout and stderr."""

    def invoke(*args: str, stdin: str | None = None) -> CliResult:
        capfd.readouterr()
        if stdin is not None:
            import io

            old = sys.stdin
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
            try:
                code = run(list(args))
            finally:
                sys.stdin = old
        else:
            code = run(list(args))
        captured = capfd.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def eventsync_bin() -> str:
    """The installed console script, for tests that need a real subprocess."""
    return str(BIN / ("eventsync.exe" if os.name == "nt" else "eventsync"))


@pytest.fixture
def journal(home: Path) -> Iterator[Journal]:
    """`Journal.open()` on the test's EVENTSYNC_HOME, closed afterwards."""
    opened = Journal.open()
    yield opened
    opened.close()


@pytest.fixture
def rows_on_disk(home: Path) -> Callable[[], int]:
    """Count journal rows with a separate plain sqlite3 connection: what is really committed."""

    def count() -> int:
        path = home / DB_NAME
        if not path.exists():
            return 0
        conn = sqlite3.connect(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "journal" not in tables:
                return 0
            return conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        finally:
            conn.close()

    return count


@pytest.fixture
def stub_server() -> Iterator[Callable[..., StubServer]]:
    """Start in-process stub servers with fault options; every one is stopped at teardown."""
    started: list[StubServer] = []

    def start(**options: Any) -> StubServer:
        server = StubServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def stub(eventsync_bin: str) -> Iterator[Callable[..., StubProcess]]:
    """Start `eventsync stub serve` subprocesses with fault options; stopped at teardown."""
    started: list[StubProcess] = []

    def start(*args: str) -> StubProcess:
        server = StubProcess(eventsync_bin, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    home.mkdir(parents=True, exist_ok=True)
    with Store(home / DB_NAME) as opened:
        yield opened


@pytest.fixture
def add_target(store: Store) -> Callable[..., Target]:
    def add(name: str, url: str, **options: str) -> Target:
        return TargetRegistry(store).add(name, "stub", url, options)

    return add
