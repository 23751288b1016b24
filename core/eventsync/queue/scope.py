"""Which offline queue file holds a scope's events: spec-kitty's naming rule, kept exactly.

spec-kitty (2.1.0-3.2.5) names a scoped queue file after a digest of `server|user|team`, so
eventsync uses the same rule: a file either program writes is the file the other looks for, and
`sync migrate` can tell which target a legacy file belongs to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from eventsync.home import resolve_home

DIGEST_CHARS = 16
NO_TEAM = "no-team"
QUEUES_DIR = "queues"


def build_queue_scope(server_url: str | None, user: str | None, team: str | None) -> str:
    """`server|user|team`: each part stripped and lowercased, the server without a trailing `/`,
    a missing (None or empty) team spelled `no-team` before it is stripped, as spec-kitty does
    (`team_slug or "no-team"`, then `build_queue_scope`): a team of spaces stays empty."""
    server = (server_url or "").strip().lower().rstrip("/")
    return f"{server}|{(user or '').strip().lower()}|{(team or NO_TEAM).strip().lower()}"


def queue_digest(scope: str) -> str:
    """First 16 hex characters of SHA-256 over the UTF-8 scope: a file name, not a secret."""
    return hashlib.sha256(scope.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def long_queue_digest(server_url: str | None, user: str | None, team: str | None) -> str:
    """spec-kitty 3.2.6+'s scope key: full SHA-256 of the same parts joined by NUL, the server
    keeping any trailing `/`. Only read (migration matches files named after it), never written."""
    server = (server_url or "").strip().lower()
    parts = (server, (user or "").strip().lower(), (team or NO_TEAM).strip().lower())
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def scope_digests(server_url: str | None, user: str | None, team: str | None
                  ) -> tuple[str, str]:
    """Both file digests a legacy queue of this scope can carry: (≤3.2.5, 3.2.6+)."""
    return (queue_digest(build_queue_scope(server_url, user, team)),
            long_queue_digest(server_url, user, team))


def default_queue_db_path(
    scope: str | None = None, home: str | os.PathLike[str] | None = None
) -> Path:
    """`<home>/queue.db` when no scope is known, else `<home>/queues/queue-<digest>.db`
    (spec-kitty's layout, so either program finds the other's files)."""
    root = resolve_home(home)
    if not scope:
        return root / "queue.db"
    return root / QUEUES_DIR / f"queue-{queue_digest(scope)}.db"
