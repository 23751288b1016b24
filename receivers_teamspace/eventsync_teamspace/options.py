"""A teamspace target's options, validated once, with messages that say how to fix them.

`sync targets add` refuses bad options through `TeamspaceReceiver.check_target`; a target that
got into the database some other way reports the same message from `preflight()` instead, so a
mistake never turns into a request.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import eventsync

KNOWN_OPTIONS = ("allow_insecure", "auth_url", "enabled", "team", "timeout", "token_env", "user")
AUTH_URL_ENV = "SPEC_KITTY_SAAS_URL"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class TeamspaceOptions:
    """What a teamspace target asks for; `token_env` is a variable's name, never a token.

    `team`/`user` only scope which events go to this target (CONTRACTS §2); the team on the
    wire is the user's Private Teamspace, resolved from the server. `disabled` is
    `enabled=false`: an option may turn sync off for one target, never on.
    """

    base_url: str
    auth_url: str | None
    team: str
    disabled: bool
    token_env: str
    timeout: float
    allow_insecure: bool


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
    eventsync.check_transport(target, allow_insecure=insecure, exposes="the token")
    token_env = options.get("token_env", "").strip()
    if token_env and not _ENV_NAME.fullmatch(token_env):
        raise _error(target, f"option token_env={token_env!r} is not an environment variable "
                             "name")
    auth_url = options.get("auth_url", "").strip().rstrip("/") or None
    if auth_url is not None:
        check_auth_url(target, auth_url, insecure, "option auth_url")
    return TeamspaceOptions(
        base_url=target.url.rstrip("/"),
        auth_url=auth_url,
        team=options.get("team", "").strip(),
        disabled=(options.get("enabled", "").strip() != ""
                  and not eventsync.option_flag(target, "enabled")),
        token_env=token_env,
        timeout=eventsync.option_timeout(target),
        allow_insecure=insecure,
    )


def auth_base(target: eventsync.Target, options: TeamspaceOptions) -> str:
    """Where `/oauth/token` lives: option `auth_url`, else $SPEC_KITTY_SAAS_URL, else the
    target URL's origin. A bad $SPEC_KITTY_SAAS_URL is a `TargetError` naming the variable."""
    if options.auth_url:
        return options.auth_url
    from_env = os.environ.get(AUTH_URL_ENV, "").strip().rstrip("/")
    if from_env:
        check_auth_url(target, from_env, options.allow_insecure, f"${AUTH_URL_ENV}")
        return from_env
    parts = urlsplit(options.base_url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_auth_url(target: eventsync.Target, url: str, insecure: bool, what: str) -> None:
    """The token endpoint obeys the same transport rule as the target: the refresh token
    travels there."""
    probe = eventsync.Target(target.name, target.type, url)
    try:
        eventsync.check_transport(probe, allow_insecure=insecure, exposes="the refresh token")
    except eventsync.TargetError as exc:
        raise _error(target, f"{what}: {str(exc).split(': ', 1)[-1]}") from None


def _error(target: eventsync.Target, message: str) -> eventsync.TargetError:
    return eventsync.TargetError(f"target {target.name}: {message}")
