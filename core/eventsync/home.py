"""Where eventsync keeps its files: `EVENTSYNC_HOME`, else the platform's per-user data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from eventsync.errors import StorageError

DB_NAME = "eventsync.db"
CONFIG_NAME = "config.toml"
CREDENTIALS_NAME = "credentials.toml"


def default_home() -> Path:
    """The platform's per-user data directory for eventsync."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "eventsync"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "eventsync"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "eventsync"


def resolve_home(home: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The home to use: the argument, else `EVENTSYNC_HOME`, else the platform default.

    A home eventsync creates is 0700: it holds credentials and event payloads.
    """
    chosen = Path(home) if home is not None else None
    if chosen is None:
        env = os.environ.get("EVENTSYNC_HOME")
        chosen = Path(env) if env else default_home()
    chosen = chosen.expanduser()
    if create and not chosen.exists():
        try:
            chosen.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create home {chosen}: {exc.strerror or exc}") from None
    return chosen
