"""Tokens for targets, kept in `credentials.toml` in the home, never in `config.toml`.

config.toml is what people paste into bug reports and `sync config show` prints, so secrets get a
file of their own: mode 0600, replaced atomically (a crash or a concurrent writer never leaves
half a file), keyed by target name. Tokens arrive on stdin (`eventsync auth set-token`), never on
a command line, where `ps` and shell history would keep them. Nothing here ever puts a token in
an exception message.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomli_w

from eventsync.delivery.targets import validate_name
from eventsync.errors import ConfigError
from eventsync.home import CREDENTIALS_NAME, resolve_home
from eventsync.receivers import Target

try:
    import fcntl
except ImportError:  # Windows: os.replace alone keeps the file whole; concurrent writers may race
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "TOKEN_ENV_OPTION",
    "check_token",
    "credentials_path",
    "env_token",
    "get_token",
    "remove_token",
    "set_token",
    "stored_targets",
    "target_token",
]

TOKEN_ENV_OPTION = "token_env"
MAX_TOKEN_CHARS = 8192
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def credentials_path(home: Path) -> Path:
    return Path(home) / CREDENTIALS_NAME


def check_token(raw: str) -> str:
    """The token without surrounding whitespace; refuse what cannot travel in an HTTP header.

    The messages describe the problem, never the value.
    """
    token = raw.strip()
    if not token:
        raise ConfigError("the token is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise ConfigError(f"the token is longer than {MAX_TOKEN_CHARS} characters")
    if any(ch.isspace() for ch in token):
        raise ConfigError("the token contains whitespace or a line break; give it on one line")
    if not token.isprintable() or not token.isascii():
        raise ConfigError("the token contains characters an HTTP header cannot carry")
    return token


def get_token(home: Path, target_name: str) -> str | None:
    """The token stored for `target_name`, or None."""
    return _token_of(_entries(_read(home)).get(target_name))


def stored_targets(home: Path) -> list[str]:
    """Names of the targets that have a stored token, sorted (the tokens stay in the file)."""
    entries = _entries(_read(home))
    return sorted(name for name, entry in entries.items() if _token_of(entry) is not None)


def set_token(home: Path, target_name: str, token: str) -> Path:
    """Store (or replace) the token for `target_name`; returns the file written."""
    validate_name(target_name)
    clean = check_token(token)
    with _locked(home):
        data = _read(home)
        entries = data.setdefault("targets", {})
        if not isinstance(entries, dict):
            raise ConfigError(f"{credentials_path(home)}: `targets` must be a table")
        entries[target_name] = {"token": clean}
        _write(home, data)
    return credentials_path(home)


def remove_token(home: Path, target_name: str) -> bool:
    """Forget the token for `target_name`; False when none was stored."""
    with _locked(home):
        data = _read(home)
        entries = _entries(data)
        if target_name not in entries:
            return False
        del entries[target_name]
        _write(home, data)
    return True


def env_token(target: Target) -> tuple[str | None, str | None]:
    """`(variable, token)` from the target's `token_env` option; `(None, None)` without it.

    The token is None when the variable is unset or empty; a malformed variable name or an
    invalid token raises `ConfigError` naming the variable only.
    """
    name = (target.options or {}).get(TOKEN_ENV_OPTION, "").strip()
    if not name:
        return None, None
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(f"option {TOKEN_ENV_OPTION}={name!r} is not an environment variable "
                          "name")
    raw = os.environ.get(name, "")
    if not raw.strip():
        return name, None
    try:
        return name, check_token(raw)
    except ConfigError as exc:
        raise ConfigError(f"environment variable {name} (option {TOKEN_ENV_OPTION}): {exc}"
                          ) from None


def target_token(target: Target) -> str | None:
    """The token a receiver should send for `target`, or None when it has none.

    The environment variable named by the target's `token_env` option wins when it is set;
    otherwise the token `eventsync auth set-token NAME` stored in the target's home.
    """
    _, token = env_token(target)
    if token is not None:
        return token
    home = Path(target.home) if target.home else resolve_home()
    return get_token(home, target.name)


def _entries(data: dict[str, Any]) -> dict[str, Any]:
    entries = data.get("targets")
    return entries if isinstance(entries, dict) else {}


def _token_of(entry: Any) -> str | None:
    token = entry.get("token") if isinstance(entry, dict) else None
    return token if isinstance(token, str) and token else None


def _read(home: Path) -> dict[str, Any]:
    path = credentials_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                          ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None


def _write(home: Path, data: dict[str, Any]) -> None:
    """Write a 0600 temporary file beside the target and rename it over: all or nothing."""
    path = credentials_path(home)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".toml", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Serialise read-modify-write cycles, so two `set-token` runs never lose one's update."""
    Path(home).mkdir(mode=0o700, parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(Path(home) / ".credentials.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
