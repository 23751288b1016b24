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
