"""Named delivery targets and their canonical identity.

Identity is what makes two registrations "the same place": receiver type + canonical URL + scope
(`user`, `team`). It is what the ledger is keyed by, so it ignores everything that does not change
where events land (case, default ports, trailing slashes, credentials, query strings). Deployment
metadata a server reports is stored beside the target, never inside its identity.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eventsync.errors import TargetError
from eventsync.receivers import Target
from eventsync.store import Schema, Store

SCOPE_OPTIONS = ("team", "user")
DEFAULT_PORTS = {"http": 80, "https": 443}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SECRET_WORDS = ("token", "secret", "password", "passwd", "authorization", "apikey", "api_key",
                 "credential")

SCHEMA = Schema(
    "targets",
    (
        """
        CREATE TABLE targets (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            name       TEXT NOT NULL UNIQUE,
            type       TEXT NOT NULL,
            url        TEXT NOT NULL,
            options    TEXT NOT NULL DEFAULT '{}',
            identity   TEXT NOT NULL UNIQUE,
            metadata   TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL
        )
        """,
    ),
)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, normalised path, no userinfo/query/fragment."""
    if not isinstance(url, str) or not url.strip():
        raise TargetError("a target URL must not be empty")
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"invalid URL {redact_url(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "file" and not host and parts.path.startswith("/"):
        pass  # file:///PATH: a file on this machine needs no host
    elif not scheme or not host:
        raise TargetError(f"invalid URL {redact_url(url)!r}: it needs a scheme and a host")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "")
    path = posixpath.normpath(path) if path else ""
    path = "" if path in (".", "/") else path.rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def target_identity(type_name: str, url: str, options: dict[str, str] | None = None) -> str:
    """`type:canonical-url`, plus `?team=..&user=..` when those scope options are given."""
    scope = {k: options[k] for k in SCOPE_OPTIONS if options and options.get(k)}
    identity = f"{type_name}:{canonical_url(url)}"
    return f"{identity}?{urlencode(sorted(scope.items()))}" if scope else identity


def is_secret_option(key: str) -> bool:
    """Options whose values must never be printed."""
    lowered = key.lower().replace("-", "_")
    return lowered.startswith("header.") or any(word in lowered for word in _SECRET_WORDS)


def redact_options(options: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if is_secret_option(k) else v) for k, v in sorted(options.items())}


def redact_url(url: str) -> str:
    """The URL with any password, and the values of secret-looking query keys, as `***`.

    It is used in error messages about URLs that failed to parse, so it must not fail itself:
    an unparseable URL loses its whole userinfo instead.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//.*@", "//***@", url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{netloc[1]}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(is_secret_option(key) for key, _ in query):
        masked = [(k, "***" if is_secret_option(k) else v) for k, v in query]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise TargetError(
            f"invalid target name {name!r}: use 1-64 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    return name


class TargetRegistry:
    """The `targets` table."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure(SCHEMA)

    def add(self, name: str, type_name: str, url: str, options: dict[str, str] | None = None
            ) -> Target:
        """Register a target; refuse a taken name or an identity another name already has."""
        validate_name(name)
        options = dict(options or {})
        identity = target_identity(type_name, url, options)
        with self.store.transaction() as conn:
            clash = conn.execute(
                "SELECT name, identity FROM targets WHERE name = ? OR identity = ?",
                (name, identity),
            ).fetchone()
            if clash is not None:
                if clash[0] == name:
                    raise TargetError(f"a target named {name!r} already exists")
                raise TargetError(
                    f"target {clash[0]!r} already has identity {identity}; use it, or remove it"
                )
            cur = conn.execute(
                "INSERT INTO targets (name, type, url, options, identity, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, type_name, url, json.dumps(options, sort_keys=True), identity,
                 int(time.time() * 1000)),
            )
            target_id = cur.lastrowid
        return Target(name, type_name, url, options, identity, {}, target_id)

    def get(self, name: str) -> Target:
        target = self.find(name)
        if target is None:
            known = ", ".join(t.name for t in self.list()) or "none"
            raise TargetError(f"unknown target {name!r} (registered: {known})")
        return target

    def find(self, name: str) -> Target | None:
        row = self.store.execute(f"SELECT {_COLUMNS} FROM targets WHERE name = ?",
                                 (name,)).fetchone()
        return _target(row) if row else None

    def find_by_url(self, url: str) -> list[Target]:
        """Targets whose canonical URL equals `url`'s (any type or scope)."""
        wanted = canonical_url(url)
        return [t for t in self.list() if canonical_url(t.url) == wanted]

    def list(self) -> list[Target]:
        cur = self.store.execute(f"SELECT {_COLUMNS} FROM targets ORDER BY name")
        return [_target(row) for row in cur]

    def remove(self, name: str) -> None:
        with self.store.transaction() as conn:
            if conn.execute("DELETE FROM targets WHERE name = ?", (name,)).rowcount == 0:
                raise TargetError(f"unknown target {name!r}")

    def record_metadata(self, name: str, facts: dict[str, Any]) -> dict[str, Any]:
        """Merge server-reported facts into the target's metadata; return the previous values."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT metadata FROM targets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise TargetError(f"unknown target {name!r}")
            previous = json.loads(row[0])
            merged = {**previous, **facts}
            conn.execute("UPDATE targets SET metadata = ? WHERE name = ?",
                         (json.dumps(merged, sort_keys=True), name))
        return previous


_COLUMNS = "id, name, type, url, options, identity, metadata"


def _target(row: tuple[Any, ...]) -> Target:
    target_id, name, type_name, url, options, identity, metadata = row
    return Target(name, type_name, url, json.loads(options), identity, json.loads(metadata),
                  target_id)
