"""The target registry on disk: names, identities, metadata beside (never inside) identity."""

from __future__ import annotations

import json

import pytest
from delivery_helpers import Spine, open_spine

from eventsync.errors import TargetError


def table(spine: Spine) -> list[tuple]:
    return spine.store.execute(
        "SELECT name, type, url, options, identity, metadata FROM targets ORDER BY name"
    ).fetchall()


def test_add_stores_the_target_and_returns_it(spine: Spine) -> None:
    target = spine.registry.add("main", "stub", "HTTP://Example.com:80/api/",
                                {"team": "blue", "token": "t0ken"})
    assert (target.name, target.type, target.url) == ("main", "stub", "HTTP://Example.com:80/api/")
    assert target.identity == "stub:http://example.com/api?team=blue"
    assert target.options == {"team": "blue", "token": "t0ken"}
    assert target.metadata == {}
    assert isinstance(target.id, int)
    assert spine.registry.get("main") == target
    name, type_name, url, options, identity, metadata = table(spine)[0]
    assert (name, type_name, url, identity) == ("main", "stub", target.url, target.identity)
    assert json.loads(options) == {"team": "blue", "token": "t0ken"}
    assert json.loads(metadata) == {}


def test_the_registry_survives_reopening(spine: Spine, tmp_path) -> None:
    spine.registry.add("main", "stub", "http://a.test")
    again = open_spine(tmp_path / "eventsync.db")
    try:
        assert [t.name for t in again.registry.list()] == ["main"]
    finally:
        again.store.close()


@pytest.mark.parametrize("same_place", [
    "http://A.test:80/api", "http://a.test/api/", "http://user:pw@a.test//api?x=1",
])
def test_two_names_with_one_identity_are_refused(spine: Spine, same_place: str) -> None:
    spine.registry.add("first", "stub", "http://a.test/api")
    with pytest.raises(TargetError, match="first"):
        spine.registry.add("second", "stub", same_place)
    assert [row[0] for row in table(spine)] == ["first"]


def test_a_different_scope_or_type_is_another_identity(spine: Spine) -> None:
    spine.registry.add("blue", "stub", "http://a.test", {"team": "blue"})
    spine.registry.add("red", "stub", "http://a.test", {"team": "red"})
    spine.registry.add("plain", "stub", "http://a.test")
    spine.registry.add("other-type", "teamspace", "http://a.test")
    assert len({t.identity for t in spine.registry.list()}) == 4


def test_non_scope_options_do_not_make_a_new_identity(spine: Spine) -> None:
    spine.registry.add("first", "stub", "http://a.test", {"token": "one"})
    with pytest.raises(TargetError):
        spine.registry.add("second", "stub", "http://a.test", {"token": "two"})


def test_same_name_is_refused(spine: Spine) -> None:
    spine.registry.add("main", "stub", "http://a.test")
    with pytest.raises(TargetError, match="already exists"):
        spine.registry.add("main", "stub", "http://b.test")
    assert spine.registry.get("main").url == "http://a.test"


@pytest.mark.parametrize("bad", [
    "../x", "..", ".hidden", "a/b", "a\\b", "", "-dash", "with space", "x" * 65, "tab\tname",
    "trailing-newline\n", "ünïcode", None,
])
def test_invalid_names_are_refused_and_nothing_is_written(spine: Spine, bad) -> None:
    with pytest.raises(TargetError, match="invalid target name"):
        spine.registry.add(bad, "stub", "http://a.test")
    assert table(spine) == []


@pytest.mark.parametrize("good", ["a", "main", "team-blue_2.prod", "9lives", "x" * 64])
def test_valid_names(spine: Spine, good: str) -> None:
    assert spine.registry.add(good, "stub", "http://a.test").name == good


def test_invalid_url_writes_nothing(spine: Spine) -> None:
    with pytest.raises(TargetError):
        spine.registry.add("main", "stub", "not a url")
    assert table(spine) == []


def test_remove(spine: Spine) -> None:
    spine.registry.add("main", "stub", "http://a.test")
    spine.registry.add("other", "stub", "http://b.test")
    spine.registry.remove("main")
    assert [t.name for t in spine.registry.list()] == ["other"]
    assert spine.registry.find("main") is None
    with pytest.raises(TargetError, match="unknown target"):
        spine.registry.remove("main")
    with pytest.raises(TargetError, match="other"):
        spine.registry.get("main")


def test_a_removed_identity_can_be_registered_again_with_a_fresh_id(spine: Spine) -> None:
    old = spine.registry.add("main", "stub", "http://a.test")
    spine.registry.remove("main")
    new = spine.registry.add("again", "stub", "http://a.test/")
    assert new.identity == old.identity
    assert new.id != old.id


def test_find_by_url_compares_canonical_urls(spine: Spine) -> None:
    spine.registry.add("a-stub", "stub", "http://a.test/api")
    spine.registry.add("a-team", "teamspace", "http://A.test:80/api/", {"team": "blue"})
    spine.registry.add("b", "stub", "http://b.test/api")
    found = spine.registry.find_by_url("http://a.test//api?x=1")
    assert [t.name for t in found] == ["a-stub", "a-team"]
    assert spine.registry.find_by_url("http://c.test") == []


def test_list_is_sorted_by_name(spine: Spine) -> None:
    for name in ("zeta", "alpha", "Mid"):
        spine.registry.add(name, "stub", f"http://{name.lower()}.test")
    assert [t.name for t in spine.registry.list()] == ["Mid", "alpha", "zeta"]


def test_record_metadata_merges_and_returns_the_previous_values(spine: Spine) -> None:
    target = spine.registry.add("main", "stub", "http://a.test")
    assert spine.registry.record_metadata("main", {"deployment_id": "d1", "git_sha": "abc"}) == {}
    previous = spine.registry.record_metadata("main", {"deployment_id": "d2"})
    assert previous == {"deployment_id": "d1", "git_sha": "abc"}
    stored = spine.registry.get("main")
    assert stored.metadata == {"deployment_id": "d2", "git_sha": "abc"}
    assert stored.identity == target.identity
    with pytest.raises(TargetError, match="unknown target"):
        spine.registry.record_metadata("nope", {"x": 1})
