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


def build_queue_scope(server_url: str | None, user: str | None, team: str | None) -> str:
    """`server|user|team`: each part stripped and lowercased, the server without a trailing `/`,
    a missing team spelled `no-team` (spec-kitty's `build_queue_scope`)."""
    server = (server_url or "").strip().lower().rstrip("/")
    return f"{server}|{(user or '').strip().lower()}|{(team or '').strip().lower() or NO_TEAM}"


def queue_digest(scope: str) -> str:
    """First 16 hex characters of SHA-256 over the UTF-8 scope: a file name, not a secret."""
    return hashlib.sha256(scope.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def default_queue_db_path(
    scope: str | None = None, home: str | os.PathLike[str] | None = None
) -> Path:
    """`<home>/queue.db` when no scope is known, else `<home>/queue-<digest>.db`."""
    root = resolve_home(home)
    if not scope:
        return root / "queue.db"
    return root / f"queue-{queue_digest(scope)}.db"
