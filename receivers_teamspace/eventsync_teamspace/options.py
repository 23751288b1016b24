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
    insecure = eventsync.option_flag(target, "allow_insecure")
    eventsync.check_transport(target, allow_insecure=insecure,
                              exposes="the token")
    token_env = options.get("token_env", "").strip()
    if token_env and not _ENV_NAME.fullmatch(token_env):
        raise _error(target, f"option token_env={token_env!r} is not an environment variable "
                             "name")
    return TeamspaceOptions(
        base_url=target.url.rstrip("/"),
        team=options.get("team", "").strip(),
        enabled=eventsync.option_flag(target, "enabled"),
        token_env=token_env,
        read_timeout=eventsync.option_timeout(target),
    )


def _error(target: eventsync.Target, message: str) -> eventsync.TargetError:
    return eventsync.TargetError(f"target {target.name}: {message}")
