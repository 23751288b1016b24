"""File modes: the home eventsync creates is 0700; every file holding secrets or event payloads
that it creates is 0600 whatever the umask; temporary files are never written through a
symlink planted at their name."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventsync.home import CONFIG_NAME, CREDENTIALS_NAME, DB_NAME
from eventsync.queue.offline_queue import OfflineQueue


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a usual and the most permissive umask."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_home_and_database_are_private(cli: Callable[..., Any], home: Path, umask: int) -> None:
    assert not home.exists()
    assert cli("events", "append", "T", "A1").code == 0
    assert mode(home) == 0o700
    assert mode(home / DB_NAME) == 0o600
    for sidecar in (home / f"{DB_NAME}-wal", home / f"{DB_NAME}-shm"):
        if sidecar.exists():
            assert mode(sidecar) & 0o077 == 0, f"{sidecar.name} is {oct(mode(sidecar))}"


def test_config_toml_is_0600_even_when_it_was_not(cli: Callable[..., Any], home: Path,
                                                   umask: int) -> None:
    home.mkdir(mode=0o700)
    (home / CONFIG_NAME).write_text('preset = "teamspace"\n', encoding="utf-8")
    (home / CONFIG_NAME).chmod(0o644)
    assert cli("sync", "config", "set", "delivery.batch_size", "50").code == 0
    assert mode(home / CONFIG_NAME) == 0o600


def test_credentials_toml_is_0600(cli: Callable[..., Any], home: Path, umask: int) -> None:
    assert cli("sync", "targets", "add", "ts", "--type", "external", "--url",
               "https://example.test").code == 0
    result = cli("auth", "set-token", "ts", stdin="tok-123456789\n")
    assert result.code == 0, result.err
    assert mode(home / CREDENTIALS_NAME) == 0o600
    assert mode(home) == 0o700


def test_offline_queue_file_is_private(tmp_path: Path, umask: int) -> None:
    with OfflineQueue(tmp_path / "queue-0123456789abcdef.db") as queue:
        queue.queue_event({"event_type": "T", "aggregate_id": "A1", "payload": {}})
    assert mode(tmp_path / "queue-0123456789abcdef.db") == 0o600


def test_archive_is_private_and_never_written_through_a_planted_symlink(
        cli: Callable[..., Any], home: Path, tmp_path: Path, umask: int) -> None:
    """`sync archive` writes `NAME.tmp` and renames it; a symlink at `NAME.tmp` (say, in a
    shared /tmp) used to be followed, overwriting whatever it pointed at."""
    assert cli("events", "append", "T", "A1").code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    archive = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.tmp").symlink_to(victim)
    result = cli("sync", "archive", "--to", str(archive))
    assert result.code == 0, result.err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert json.loads(archive.read_text(encoding="utf-8"))["aggregate_id"] == "A1"
    assert mode(archive) == 0o600
    assert not (tmp_path / "out.jsonl.tmp").exists()


def test_drain_to_file_never_writes_through_a_planted_symlink(tmp_path: Path,
                                                               umask: int) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (tmp_path / "export.jsonl.tmp").symlink_to(victim)
    with OfflineQueue(tmp_path / "queue.db") as queue:
        queue.queue_event({"event_type": "T", "aggregate_id": "A1", "payload": {}})
        assert queue.drain_to_file(tmp_path / "export.jsonl") == 1
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert mode(tmp_path / "export.jsonl") == 0o600
