"""The queue file name rule: migration finds legacy files by it, so it is pinned here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import eventsync
from eventsync.errors import TargetError
from eventsync.offline_queue import (
    OfflineQueue,
    build_queue_scope,
    default_queue_db_path,
    queue_digest,
)


def test_scope_uses_the_canonical_url_and_keeps_part_order():
    scope = build_queue_scope("HTTPS://Sync.Example.com:443//api/", "alice", "core")
    assert scope == "https://sync.example.com/api|alice|core"


def test_missing_scope_parts_are_empty_strings():
    assert build_queue_scope(None, None, None) == "||"
    assert build_queue_scope("", "", "") == "||"
    assert build_queue_scope("http://localhost:8000", None, "t1") == "http://localhost:8000||t1"


def test_scope_never_carries_credentials():
    scope = build_queue_scope("https://bob:s3cret@sync.example.com/?token=abc", "bob", None)
    assert "s3cret" not in scope and "abc" not in scope
    assert scope == "https://sync.example.com|bob|"


def test_bad_url_is_a_target_error():
    with pytest.raises(TargetError):
        build_queue_scope("not a url", "u", "t")


def test_digest_is_the_first_16_hex_chars_of_sha256():
    scope = "https://sync.example.com/api|alice|core"
    assert queue_digest(scope) == hashlib.sha256(scope.encode("utf-8")).hexdigest()[:16]
    assert queue_digest(scope) == "bc1e2b0e88994670"


def test_default_path_without_scope_is_queue_db(tmp_path: Path):
    assert default_queue_db_path(None, home=tmp_path) == tmp_path / "queue.db"


def test_default_path_with_scope_names_the_digest(tmp_path: Path):
    scope = build_queue_scope("https://sync.example.com/api", "alice", "core")
    path = default_queue_db_path(scope, home=tmp_path)
    assert path == tmp_path / "queue-bc1e2b0e88994670.db"


def test_equivalent_urls_share_one_file(tmp_path: Path):
    one = build_queue_scope("https://sync.example.com/api/", "a", "t")
    two = build_queue_scope("https://SYNC.example.com:443/api", "a", "t")
    assert default_queue_db_path(one, tmp_path) == default_queue_db_path(two, tmp_path)


def test_default_queue_lives_in_eventsync_home(home: Path, make_event):
    with OfflineQueue() as queue:
        assert queue.queue_event(make_event())
        assert queue.path == home / "queue.db"
    assert (home / "queue.db").is_file()


def test_public_face_exports_the_queue():
    assert eventsync.OfflineQueue is OfflineQueue
    assert eventsync.build_queue_scope is build_queue_scope
    assert eventsync.default_queue_db_path is default_queue_db_path
