"""A teamspace target's options, validated once, with messages that say how to fix them.

`sync targets add` refuses bad options through `TeamspaceReceiver.check_target`; a target that
got into the database some other way reports the same message from `preflight()` instead, so a
mistake never turns into a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import eventsync

KNOWN_OPTIONS = ("allow_insecure", "enabled", "team", "timeout", "token_env", "user")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class TeamspaceOptions:
    """What a teamspace target asks for; `token_env` is a variable's name, never a token."""

    base_url: str
    team: str
    enabled: bool
    token_env: str
    read_timeout: float


def parse_options(target: eventsync.Target) -> TeamspaceOptions:
    """Validate `target`'s URL and options; `eventsync.TargetError` names the one to fix."""
    options = dict(target.options or {})
    if "token" in options:
        raise _error(target, "never put a token in an option (it would sit in the database); "
                             f"use `eventsync auth set-token {target.name}` or token_env=VAR")
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise _error(target, f"unknown option {unknown[0]!r} (teamspace options: "
                             f"{', '.join(KNOWN_OPTIONS)})")
    eventsync.check_transport(target, allow_insecure=_flag(target, "allow_insecure"),
                              exposes="the token")
    token_env = options.get("token_env", "").strip()
    if token_env and not _ENV_NAME.fullmatch(token_env):
        raise _error(target, f"option token_env={token_env!r} is not an environment variable "
                             "name")
    return TeamspaceOptions(
        base_url=target.url.rstrip("/"),
        team=options.get("team", "").strip(),
        enabled=_flag(target, "enabled"),
        token_env=token_env,
        read_timeout=_timeout(target),
    )


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def _flag(target: eventsync.Target, name: str) -> bool:
    raw = (target.options or {}).get(name, "")
    if raw.strip().lower() not in _TRUE | _FALSE:
        raise _error(target, f"option {name}={raw!r} must be true or false")
    return is_true(raw)


def _timeout(target: eventsync.Target) -> float:
    raw = (target.options or {}).get("timeout", "30")
    try:
        value = float(raw)
    except ValueError:
        raise _error(target, f"option timeout={raw!r} must be a number of seconds") from None
    if not 0 < value <= 3600:
        raise _error(target, "option timeout must be between 0 and 3600 seconds")
    return value


def _error(target: eventsync.Target, message: str) -> eventsync.TargetError:
    return eventsync.TargetError(f"target {target.name}: {message}")
