"""Names and paths from the user are validated: no target name or event type that could act as a
path, and `sync migrate DIR` reads and renames only what is really inside DIR."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import count_rows, one_line_error

from eventsync.home import DB_NAME

HOSTILE_NAMES = ["../x", "..", ".", "a/b", "a\\b", "/etc/passwd", "x\x00y", "-rf", "", " x",
                 "x\n", "é" * 3, "a" * 65, "~root"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_target_names_are_refused_in_one_line(cli: Callable[..., Any], home: Path,
                                                      name: str) -> None:
    result = cli("sync", "targets", "add", "--type", "stub", "--url", "http://127.0.0.1:9",
                 "--", name)
    assert result.code != 0
    one_line_error(result.err)
    assert count_rows(home / DB_NAME, "targets") == 0


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_never_reach_the_credentials_file(cli: Callable[..., Any], home: Path,
                                                        name: str) -> None:
    result = cli("auth", "set-token", "--", name, stdin="tok-123456789\n")
    assert result.code != 0
    one_line_error(result.err)
    assert not (home / "credentials.toml").exists()


@pytest.mark.parametrize("event_type", ["../../etc/passwd", "a/b", "x y", "", "t\n", "é",
                                        "a" * 129, "'; DROP TABLE journal; --"])
def test_hostile_event_types_are_refused_and_nothing_is_written(
        cli: Callable[..., Any], home: Path, event_type: str) -> None:
    result = cli("events", "append", "--", event_type, "A1")
    assert result.code == 1
    one_line_error(result.err)
    assert count_rows(home / DB_NAME, "journal") == 0


def test_migrate_dir_does_not_follow_a_link_out_of_the_directory(
        cli: Callable[..., Any], home: Path, tmp_path: Path) -> None:
    """A `*.jsonl` (or `queue-*.db`) symlink inside DIR pointing elsewhere used to be read and,
    with --cleanup, the file it pointed at was renamed: a path outside DIR changed."""
    outside = tmp_path / "elsewhere" / "secret.jsonl"
    outside.parent.mkdir()
    outside.write_text(json.dumps({"event_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "event_type": "T",
                                   "aggregate_id": "A1", "payload": {}}) + "\n", "utf-8")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "link.jsonl").symlink_to(outside)
    inside = legacy / "real.jsonl"
    inside.write_text(json.dumps({"event_id": "01HYYYYYYYYYYYYYYYYYYYYYYY", "event_type": "T",
                                  "aggregate_id": "A2", "payload": {}}) + "\n", "utf-8")
    result = cli("sync", "migrate", str(legacy), "--cleanup", "--json")
    assert result.code == 1
    report = result.json()
    by_status = {f["status"]: f for f in report["files"]}
    assert "leads outside" in by_status["skipped"]["error"]
    assert by_status["migrated"]["renamed_to"] == str(inside) + ".migrated"
    assert outside.exists() and not outside.with_name("secret.jsonl.migrated").exists()
    assert (legacy / "link.jsonl").is_symlink()
    assert report["imported"] == 1
    # the file named directly is the operator's explicit choice and is migrated
    direct = cli("sync", "migrate", str(outside), "--json")
    assert direct.code == 0 and direct.json()["imported"] == 1


def test_archive_refuses_to_replace_a_file_or_write_into_a_missing_directory(
        cli: Callable[..., Any], home: Path, tmp_path: Path) -> None:
    assert cli("events", "append", "T", "A1").code == 0
    existing = tmp_path / "taken.jsonl"
    existing.write_text("keep\n", encoding="utf-8")
    for path in (existing, tmp_path / "missing" / "a.jsonl"):
        result = cli("sync", "archive", "--to", str(path))
        assert result.code == 1
        one_line_error(result.err)
    assert existing.read_text(encoding="utf-8") == "keep\n"
