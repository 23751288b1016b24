"""Fixtures every test folder shares: an isolated home and an in-process CLI runner."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventsync.cli import run

BIN = Path(sys.executable).parent


@dataclass
class CliResult:
    """What a user sees from one CLI invocation."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh EVENTSYNC_HOME; plugin and target env variables cleared so the host can't leak in."""
    path = tmp_path / "home"
    monkeypatch.setenv("EVENTSYNC_HOME", str(path))
    for name in ("EVENTSYNC_TARGET", "EVENTSYNC_SERVER_URL", "EVENTSYNC_LOAD_PLUGINS",
                 "EVENTSYNC_STRICT_PLUGINS", "EVENTSYNC_ENABLE_SAAS_SYNC"):
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
