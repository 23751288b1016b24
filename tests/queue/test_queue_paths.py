"""The queue file name rule: migration finds legacy files by it, so it is pinned here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import eventsync
from eventsync.queue.offline_queue import OfflineQueue
from eventsync.queue.scope import build_queue_scope, default_queue_db_path, queue_digest


def test_scope_is_spec_kittys_server_user_team_stripped_and_lowercased():
    scope = build_queue_scope(" HTTPS://Sync.Example.com/api/ ", " Alice ", " Core ")
    assert scope == "https://sync.example.com/api|alice|core"


def test_a_missing_team_is_no_team_and_a_missing_user_is_empty():
    assert build_queue_scope("https://sync.example.com", "a", None) == "https://sync.example.com|a|no-team"
    assert build_queue_scope(None, None, None) == "||no-team"
    assert build_queue_scope("", "", "") == "||no-team"


def test_a_team_of_spaces_is_empty_not_no_team_as_in_spec_kitty_3_2_5():
    """spec-kitty substitutes `no-team` for a missing or empty team *before* stripping (checked
    against specify_cli 3.2.5's `build_queue_scope` and its caller), so spaces strip to ''."""
    assert build_queue_scope("https://x.dev//", "u", "  ") == "https://x.dev|u|"


def test_no_url_normalisation_beyond_spec_kittys():
    """spec-kitty only lowercases and drops one trailing slash; a port or path stays as given,
    so the digest of a URL spelled the spec-kitty way is spec-kitty's digest."""
    assert build_queue_scope("https://s.example.com:443/api", "a", "t") == (
        "https://s.example.com:443/api|a|t")
    assert build_queue_scope("not a url", "u", "t") == "not a url|u|t"


def test_digest_is_the_first_16_hex_chars_of_sha256():
    scope = "https://sync.example.com/api|alice|core"
    assert queue_digest(scope) == hashlib.sha256(scope.encode("utf-8")).hexdigest()[:16]
    assert queue_digest(scope) == "bc1e2b0e88994670"


def test_default_path_without_scope_is_queue_db(tmp_path: Path):
    assert default_queue_db_path(None, home=tmp_path) == tmp_path / "queue.db"


def test_default_path_with_scope_names_the_digest(tmp_path: Path):
    scope = build_queue_scope("https://sync.example.com/api", "alice", "core")
    path = default_queue_db_path(scope, home=tmp_path)
    assert path == tmp_path / "queues" / "queue-bc1e2b0e88994670.db"


def test_spellings_that_differ_in_case_and_trailing_slash_share_one_file(tmp_path: Path):
    one = build_queue_scope("https://sync.example.com/api/", "a", "T")
    two = build_queue_scope("https://SYNC.example.com/api", "A", "t")
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


def test_retention_off_never_queues_another_teams_event_for_a_team_target(tmp_path: Path):
    """The scope rule (CONTRACTS.md §2) with retention off: refused, nothing written."""
    from eventsync.config import EventSyncConfig
    from eventsync.errors import InvalidEvent
    from eventsync.events import build_event
    from eventsync.queue.offline_queue import enqueue_for_target, open_target_queue
    from eventsync.receivers import Target

    target = Target("blue", "stub", "https://s.example", {"team": "Team-Blue"})
    config = EventSyncConfig()
    enqueue_for_target(target, tmp_path, config,
                       build_event({"event_type": "T", "aggregate_id": "A",
                                    "team_slug": "team-blue"}))
    with pytest.raises(InvalidEvent, match="produced for team"):
        enqueue_for_target(target, tmp_path, config,
                           build_event({"event_type": "T", "aggregate_id": "B",
                                        "team_slug": "team-red"}))
    with open_target_queue(target, tmp_path, config) as queue:
        assert [e.aggregate_id for e in queue.drain(10)] == ["A"]
