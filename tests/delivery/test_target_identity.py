"""Target identity: what makes two registrations the same place, and what never leaks."""

from __future__ import annotations

import pytest

from eventsync.delivery.targets import (
    canonical_url,
    is_secret_option,
    redact_options,
    redact_url,
    target_identity,
)
from eventsync.errors import TargetError


@pytest.mark.parametrize(("given", "canonical"), [
    ("HTTP://Example.COM/api", "http://example.com/api"),
    ("https://EXAMPLE.com:443/api/", "https://example.com/api"),
    ("http://example.com:80", "http://example.com"),
    ("http://example.com:8080/", "http://example.com:8080"),
    ("https://example.com:80/", "https://example.com:80"),
    ("http://example.com:443/", "http://example.com:443"),
    ("http://example.com/", "http://example.com"),
    ("http://example.com", "http://example.com"),
    ("http://example.com///", "http://example.com"),
    ("http://example.com//api//v1///", "http://example.com/api/v1"),
    ("http://example.com/a/./b/", "http://example.com/a/b"),
    ("http://example.com/a/../b", "http://example.com/b"),
    ("http://example.com/a/../../../b", "http://example.com/b"),
    ("http://example.com/..", "http://example.com"),
    ("http://example.com/API/Case", "http://example.com/API/Case"),
    ("http://alice:s3cret@example.com/api", "http://example.com/api"),
    ("http://alice@example.com/api", "http://example.com/api"),
    ("http://example.com/api?token=abc&x=1", "http://example.com/api"),
    ("http://example.com/api#frag", "http://example.com/api"),
    ("  http://example.com/api  ", "http://example.com/api"),
    ("http://[::1]:8080/x/", "http://[::1]:8080/x"),
    ("http://[FE80::1]:80/", "http://[fe80::1]"),
    ("https://[2001:DB8::7]:443/api", "https://[2001:db8::7]/api"),
    ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
])
def test_canonical_url(given: str, canonical: str) -> None:
    assert canonical_url(given) == canonical


@pytest.mark.parametrize("bad", [
    "", "   ", "example.com", "/just/a/path", "http://", "http:///path",
    "http://example.com:99999/", "http://example.com:port/", "http://[::1",
    "http://user:pw@[::1", "localhost:8080",
])
def test_invalid_urls_are_target_errors(bad: str) -> None:
    with pytest.raises(TargetError):
        canonical_url(bad)


def test_non_string_url_is_a_target_error() -> None:
    with pytest.raises(TargetError):
        canonical_url(None)  # type: ignore[arg-type]


def test_invalid_url_error_never_shows_the_password() -> None:
    for bad in ("http://alice:hunter22@example.com:99999/", "http://alice:hunter22@[::1"):
        with pytest.raises(TargetError) as caught:
            canonical_url(bad)
        assert "hunter22" not in str(caught.value)


def test_identity_is_type_and_canonical_url() -> None:
    assert target_identity("stub", "HTTP://Example.com:80/api/") == "stub:http://example.com/api"
    assert target_identity("stub", "http://a.test") != target_identity("other", "http://a.test")


def test_identity_includes_scope_sorted_and_ignores_other_options() -> None:
    identity = target_identity("stub", "http://a.test/", {"user": "bob", "team": "blue",
                                                          "token": "x", "timeout": "5"})
    assert identity == "stub:http://a.test?team=blue&user=bob"
    assert target_identity("stub", "http://a.test", {"user": "bob"}) == \
        "stub:http://a.test?user=bob"
    assert target_identity("stub", "http://a.test", {"token": "x", "timeout": "5"}) == \
        "stub:http://a.test"


def test_empty_scope_values_are_no_scope() -> None:
    assert target_identity("stub", "http://a.test", {"team": "", "user": ""}) == \
        "stub:http://a.test"


def test_scope_values_are_encoded() -> None:
    identity = target_identity("stub", "http://a.test", {"team": "a&b=c d"})
    assert identity == "stub:http://a.test?team=a%26b%3Dc+d"


@pytest.mark.parametrize(("key", "secret"), [
    ("token", True), ("API_TOKEN", True), ("client_secret", True), ("password", True),
    ("db_passwd", True), ("Authorization", True), ("apikey", True), ("api_key", True),
    ("api-key", True), ("X-Api-Key", True), ("credentials", True),
    ("header.X-Custom", True), ("header.anything", True),
    ("team", False), ("user", False), ("timeout", False), ("verify_tls", False),
])
def test_is_secret_option(key: str, secret: bool) -> None:
    assert is_secret_option(key) is secret


def test_redact_options_masks_secrets_and_sorts() -> None:
    redacted = redact_options({"token": "abc", "team": "blue", "header.Auth": "Bearer x"})
    assert redacted == {"header.Auth": "***", "team": "blue", "token": "***"}
    assert list(redacted) == sorted(redacted)


@pytest.mark.parametrize(("url", "shown"), [
    ("http://example.com/api", "http://example.com/api"),
    ("http://alice:hunter22@example.com/api", "http://alice:***@example.com/api"),
    ("http://alice@example.com/api", "http://alice@example.com/api"),
    ("http://alice:p@ss@example.com/", "http://alice:***@example.com/"),
    ("http://example.com/api?token=abc123&page=2", "http://example.com/api?token=***&page=2"),
    ("http://example.com/api?page=2", "http://example.com/api?page=2"),
    ("http://alice:pw@[::1", "http://***@[::1"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
