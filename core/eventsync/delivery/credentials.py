"""Tokens for targets, kept in `credentials.toml` in the home, never in `config.toml`.

config.toml is what people paste into bug reports and `sync config show` prints, so secrets get a
file of their own: mode 0600, replaced atomically (a crash or a concurrent writer never leaves
half a file), keyed by target name. Tokens arrive on stdin (`eventsync auth set-token`), never on
a command line, where `ps` and shell history would keep them. Nothing here ever puts a token in
an exception message.

A token is a bare access token, or the JSON form (CONTRACTS §6) with a refresh token and an
expiry: `{"access_token": ..., "refresh_token": ..., "expires_at": ISO-8601 | "expires_in": s}`.
A receiver that refreshes (Teamspace) writes the rotated pair back through
`update_target_credentials`, under the same lock as `set-token`, so two drains refreshing at
once never lose a rotation.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    "StoredToken",
    "check_token",
    "credentials_path",
    "env_token",
    "get_credentials",
    "get_token",
    "parse_token_input",
    "remove_token",
    "set_token",
    "stored_targets",
    "target_credentials",
    "target_token",
    "update_target_credentials",
]

TOKEN_ENV_OPTION = "token_env"
MAX_TOKEN_CHARS = 8192
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class StoredToken:
    """What is stored for one target. The tokens never appear in a repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # epoch seconds; None: unknown, never refreshed for age
    refresh_expires_at: float | None = None

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """Whether the access token has `seconds` or less left (False when its expiry is
        unknown)."""
        if self.expires_at is None:
            return False
        return self.expires_at - (time.time() if now is None else now) <= seconds


def parse_token_input(raw: str, now: float | None = None) -> StoredToken:
    """A bare token, or the JSON form; refusals describe the problem, never a value.

    Besides `expires_at` (ISO-8601 with an offset, or epoch seconds) and `expires_in`
    (seconds), spec-kitty's session names `access_token_expires_at` and
    `refresh_token_expires_at` are read; other keys are ignored.
    """
    text = raw.strip()
    if not text.startswith("{"):
        return StoredToken(check_token(text))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ConfigError("the token looks like JSON but does not parse; give a bare token or "
                          'a JSON object {"access_token": ...}') from None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise ConfigError('the JSON form needs a string "access_token"')
    refresh = data.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        raise ConfigError('"refresh_token" must be a string')
    current = time.time() if now is None else now
    expires = _when(data, ("expires_at", "access_token_expires_at"), "expires_in", current)
    return StoredToken(
        access_token=_checked("access_token", data["access_token"]),
        refresh_token=_checked("refresh_token", refresh) if refresh else None,
        expires_at=expires,
        refresh_expires_at=_when(data, ("refresh_token_expires_at",),
                                 "refresh_token_expires_in", current),
    )


def _checked(name: str, value: str) -> str:
    try:
        return check_token(value)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _when(data: dict[str, Any], at_keys: tuple[str, ...], in_key: str, now: float
          ) -> float | None:
    """An expiry from an absolute field or a relative one (seconds from now)."""
    for key in at_keys:
        if data.get(key) is not None:
            return _instant(key, data[key])
    relative = data.get(in_key)
    if relative is None:
        return None
    if isinstance(relative, bool) or not isinstance(relative, int | float) or not (
            math.isfinite(relative) and relative >= 0):
        raise ConfigError(f'"{in_key}" must be a number of seconds')
    return now + float(relative)


def _instant(key: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return when.timestamp()
    raise ConfigError(f'"{key}" must be an ISO-8601 time with a UTC offset, or epoch seconds')


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
    """The (access) token stored for `target_name`, or None."""
    return _token_of(_entries(_read(home)).get(target_name))


def get_credentials(home: Path, target_name: str) -> StoredToken | None:
    """Everything stored for `target_name` (access token, refresh token, expiries), or None."""
    return _stored_of(_entries(_read(home)).get(target_name))


def stored_targets(home: Path) -> list[str]:
    """Names of the targets that have a stored token, sorted (the tokens stay in the file)."""
    entries = _entries(_read(home))
    return sorted(name for name, entry in entries.items() if _token_of(entry) is not None)


def set_token(home: Path, target_name: str, token: str | StoredToken) -> Path:
    """Store (or replace) the token for `target_name`: a bare token, the JSON form's text, or a
    `StoredToken`; returns the file written."""
    validate_name(target_name)
    stored = token if isinstance(token, StoredToken) else parse_token_input(token)
    with _locked(home):
        data = _read(home)
        entries = data.setdefault("targets", {})
        if not isinstance(entries, dict):
            raise ConfigError(f"{credentials_path(home)}: `targets` must be a table")
        entries[target_name] = _entry_of(stored)
        _write(home, data)
    return credentials_path(home)


def update_credentials(home: Path, target_name: str,
                       change: Callable[[StoredToken | None], StoredToken | None]
                       ) -> StoredToken | None:
    """Read what is stored, let `change` compute the new value (it may make a request, e.g.
    a token refresh) and write it, all under the credentials lock; returns what is stored.

    `change` returning its argument unchanged writes nothing: another process refreshed
    first, and its rotated tokens are what `change` found.
    """
    validate_name(target_name)
    with _locked(home):
        data = _read(home)
        current = _stored_of(_entries(data).get(target_name))
        fresh = change(current)
        if fresh is None or fresh == current:
            return current
        entries = data.setdefault("targets", {})
        if not isinstance(entries, dict):
            raise ConfigError(f"{credentials_path(home)}: `targets` must be a table")
        entries[target_name] = _entry_of(fresh)
        _write(home, data)
    return fresh


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


def target_credentials(target: Target) -> tuple[StoredToken | None, str | None]:
    """`(credentials, variable)` for `target`: the `token_env` variable's token when it is set
    (a bare access token, nothing to refresh or write back), else what `auth set-token`
    stored (variable None). Raises `ConfigError` naming the variable, never a value."""
    variable, token = env_token(target)
    if token is not None:
        return StoredToken(token), variable
    return get_credentials(_home_of(target), target.name), None


def update_target_credentials(target: Target,
                              change: Callable[[StoredToken | None], StoredToken | None]
                              ) -> StoredToken | None:
    """`update_credentials` in the target's home (what a refreshing receiver calls)."""
    return update_credentials(_home_of(target), target.name, change)


def _home_of(target: Target) -> Path:
    return Path(target.home) if target.home else resolve_home()


def target_token(target: Target) -> str | None:
    """The token a receiver should send for `target`, or None when it has none.

    The environment variable named by the target's `token_env` option wins when it is set;
    otherwise the token `eventsync auth set-token NAME` stored in the target's home.
    """
    _, token = env_token(target)
    if token is not None:
        return token
    return get_token(_home_of(target), target.name)


def _entries(data: dict[str, Any]) -> dict[str, Any]:
    entries = data.get("targets")
    return entries if isinstance(entries, dict) else {}


def _token_of(entry: Any) -> str | None:
    token = entry.get("token") if isinstance(entry, dict) else None
    return token if isinstance(token, str) and token else None


def _stored_of(entry: Any) -> StoredToken | None:
    token = _token_of(entry)
    if token is None:
        return None
    refresh = entry.get("refresh_token")
    return StoredToken(token, refresh if isinstance(refresh, str) and refresh else None,
                       _epoch_or_none(entry.get("expires_at")),
                       _epoch_or_none(entry.get("refresh_expires_at")))


def _epoch_or_none(value: Any) -> float | None:
    try:
        return _instant("expires_at", value) if value is not None else None
    except ConfigError:
        return None


def _entry_of(stored: StoredToken) -> dict[str, Any]:
    entry: dict[str, Any] = {"token": stored.access_token}
    if stored.refresh_token:
        entry["refresh_token"] = stored.refresh_token
    for key, value in (("expires_at", stored.expires_at),
                       ("refresh_expires_at", stored.refresh_expires_at)):
        if value is not None:
            entry[key] = _iso(value)
    return entry


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
