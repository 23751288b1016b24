"""Transport rules: what a target URL may be (for every receiver), and what HTTP receivers add.

`check_url` is the one URL rule: `sync targets add` applies it with the receiver's declared
`schemes` before anything is stored, so a URL is refused, never silently altered (the stdlib's
`urlsplit` drops tabs and newlines without a word). Refusals quote the URL exactly as typed,
with only a password replaced by `***`. HTTP receivers call `check_transport` from their
`check_target`, so one rule (and one wording of its refusal) holds for Teamspace, external and
any third-party receiver that wants it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from eventsync.errors import TargetError
from eventsync.receivers import DEFAULT_SCHEMES, Target

# scheme://user:PASSWORD@ — only the password is masked; nothing else of the text changes
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:)[^/?#@]*@")


def shown_url(url: str) -> str:
    """The URL quoted as typed (control characters escaped), its password as `***`."""
    return repr(_PASSWORD.sub(r"\1***@", url))


def schemes_of(receiver_class: Any) -> tuple[str, ...]:
    """The URL schemes a receiver class declares (`schemes`), lower-cased; http(s) if none."""
    declared = getattr(receiver_class, "schemes", DEFAULT_SCHEMES) or DEFAULT_SCHEMES
    if isinstance(declared, str):
        declared = (declared,)
    return tuple(str(scheme).lower() for scheme in declared)


def refuse_unsafe_text(url: str) -> None:
    """Refuse an empty URL, or one with whitespace or a control character anywhere."""
    if not isinstance(url, str) or not url:
        raise TargetError("a target URL must not be empty")
    bad = next((c for c in url if c.isspace() or unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is not None:
        what = "whitespace" if bad.isspace() else "a control character"
        raise TargetError(f"invalid URL {shown_url(url)}: it contains {what} "
                          f"({bad!r}); percent-encode it")


def check_url(url: str, schemes: Sequence[str] = DEFAULT_SCHEMES) -> None:
    """Refuse a URL that is not one of `schemes` with a host (`file:` with a path instead),
    or that holds whitespace or a control character anywhere."""
    refuse_unsafe_text(url)
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise TargetError(f"invalid URL {shown_url(url)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        wanted = ", ".join(f"{s}://" for s in schemes)
        raise TargetError(f"invalid URL {shown_url(url)}: this receiver type takes {wanted} "
                          "URLs")
    if scheme == "file":
        if (host or "").lower() not in ("", "localhost") or not parts.path.startswith("/"):
            raise TargetError(f"invalid URL {shown_url(url)}: a file URL is file:///ABSOLUTE/PATH")
    elif not host:
        raise TargetError(f"invalid URL {shown_url(url)}: it needs a host")


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
    refuse_unsafe_text(target.url)
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
