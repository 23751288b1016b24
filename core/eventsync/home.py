"""Where eventsync keeps its files: `EVENTSYNC_HOME`, else the platform's per-user data dir."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

import platformdirs

from eventsync.errors import StorageError

APP_NAME = "eventsync"
DB_NAME = "eventsync.db"
CONFIG_NAME = "config.toml"
CREDENTIALS_NAME = "credentials.toml"


def default_home() -> Path:
    """The platform's per-user data directory for eventsync.

    `platformdirs` knows each platform's rule (XDG on Linux, Application Support on macOS,
    LOCALAPPDATA on Windows) and keeps up with them, so eventsync does not carry its own table.
    """
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=False))


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


_PRIVATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def create_private(path: Path) -> bool:
    """Create `path` empty and 0600 unless it exists; True when this call created it.

    Databases hold event payloads and target options (header values among them), so a new one
    is private from its first byte rather than chmod-ed after SQLite made it world-readable.
    Any failure is left to the caller's own open, which reports it in its own words.
    """
    try:
        os.close(os.open(path, _PRIVATE_FLAGS, 0o600))
    except OSError:
        return False
    return True


def open_private(path: Path) -> BinaryIO:
    """A new 0600 file for writing at `path`, replacing any stale file or link there.

    Used for temporary files written beside their final name: `O_EXCL | O_NOFOLLOW` after the
    unlink means a symlink planted at that name can never redirect the write elsewhere.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return os.fdopen(os.open(path, _PRIVATE_FLAGS, 0o600), "wb")
