"""Transport rules every HTTP receiver shares: http(s) only, plain http only to this machine.

Receivers call `check_transport` from their `check_target`, so one rule (and one wording of its
refusal) holds for Teamspace, external and any third-party receiver that wants it.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from eventsync.errors import TargetError
from eventsync.receivers import Target


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address: traffic that never leaves this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_transport(target: Target, *, allow_insecure: bool, exposes: str) -> None:
    """Refuse non-http(s) URLs, and plain http to another host unless `allow_insecure`.

    `exposes` names what plain http would leak (e.g. "the token") in the one-line refusal.
    """
    try:
        parts = urlsplit(target.url)
        host = parts.hostname or ""
    except ValueError:
        raise TargetError(f"target {target.name}: the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https") or not host:
        raise TargetError(f"target {target.name}: the URL must start with https:// and name a "
                          "host")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(host):
        raise TargetError(f"target {target.name}: plain http would send {exposes} unencrypted; "
                          "use https:// (or --option allow_insecure=true on a trusted network)")


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def is_true(value: str | None) -> bool:
    """The usual spellings of yes in options and environment variables."""
    return (value or "").strip().lower() in TRUE_WORDS


def option_flag(target: Target, name: str) -> bool:
    """A true/false target option (absent = false); anything else is a one-line TargetError."""
    raw = (target.options or {}).get(name, "")
    if raw.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
        raise TargetError(f"target {target.name}: option {name}={raw!r} must be true or false")
    return is_true(raw)


def option_timeout(target: Target, default: float = 30.0) -> float:
    """The `timeout` option: read timeout in seconds, 0 < t <= 3600."""
    raw = (target.options or {}).get("timeout", str(default))
    try:
        value = float(raw)
    except ValueError:
        raise TargetError(f"target {target.name}: option timeout={raw!r} must be a number of "
                          "seconds") from None
    if not 0 < value <= 3600:
        raise TargetError(f"target {target.name}: option timeout must be between 0 and 3600 "
                          "seconds")
    return value
