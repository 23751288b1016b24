"""An external target's options, validated once, with messages that never show a header value.

`sync targets add` refuses bad options through `ExternalReceiver.check_target`; a target that got
into the database some other way reports the same message from `preflight()` instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import eventsync

FORMATS = ("batch", "ndjson")
PLAIN_OPTIONS = ("allow_insecure", "format", "gzip", "team", "timeout", "user")
HEADER_PREFIX = "header."
HEADER_ENV_PREFIX = "header_env."
# Framing headers belong to the HTTP client: overriding them would corrupt every request.
RESERVED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "host"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class ExternalOptions:
    """What an external target asks for. `headers` hold secrets: never print this record."""

    url: str
    format: str
    gzip: bool
    read_timeout: float
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    header_env: dict[str, str] = field(default_factory=dict)


def parse_options(target: eventsync.Target) -> ExternalOptions:
    """Validate `target`'s URL and options; `eventsync.TargetError` names the one to fix."""
    options = dict(target.options or {})
    headers, header_env = _headers(target, options)
    both = sorted({n.lower() for n in headers} & {n.lower() for n in header_env})
    if both:
        raise _error(target, f"header {both[0]!r} is given by both header.* and header_env.*")
    unknown = sorted(set(options) - set(PLAIN_OPTIONS))
    if unknown:
        raise _error(target, f"unknown option {unknown[0]!r} (external options: "
                             f"{', '.join(PLAIN_OPTIONS)}, header.NAME, header_env.NAME)")
    insecure = eventsync.option_flag(target, "allow_insecure")
    eventsync.check_transport(target, allow_insecure=insecure,
                              exposes="events and headers")
    fmt = options.get("format", "batch").strip().lower() or "batch"
    if fmt not in FORMATS:
        raise _error(target, f"option format={fmt!r} must be one of {', '.join(FORMATS)}")
    return ExternalOptions(url=target.url, format=fmt, gzip=eventsync.option_flag(target, "gzip"),
                           read_timeout=eventsync.option_timeout(target), headers=headers,
                           header_env=header_env)


def resolve_headers(target: eventsync.Target, options: ExternalOptions) -> dict[str, str]:
    """Every header to send, `header_env.*` read now; a missing variable raises
    `ReceiverNotReady` naming the variable, never a value."""
    headers = dict(options.headers)
    for name, variable in options.header_env.items():
        value = os.environ.get(variable)
        if not value:
            raise eventsync.ReceiverNotReady(
                f"${variable} (option header_env.{name}) is not set: export it, then run "
                f"`eventsync sync now --target {target.name}`")
        if not _valid_value(value):
            raise eventsync.ReceiverNotReady(
                f"${variable} (option header_env.{name}) holds a line break or a control "
                "character")
        headers[name] = value
    return headers


def _headers(target: eventsync.Target, options: dict[str, str]
             ) -> tuple[dict[str, str], dict[str, str]]:
    """Pop `header.*` and `header_env.*` out of `options`; check names, never echo values."""
    headers: dict[str, str] = {}
    header_env: dict[str, str] = {}
    for key in sorted(options):
        for prefix, found in ((HEADER_PREFIX, headers), (HEADER_ENV_PREFIX, header_env)):
            if not key.startswith(prefix):
                continue
            name, value = key[len(prefix):], options.pop(key)
            if not _HEADER_NAME.fullmatch(name):
                raise _error(target, f"option {key!r}: {name!r} is not an HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise _error(target, f"option {key!r}: eventsync sets {name} itself")
            if found is headers and not _valid_value(value):
                raise _error(target, f"option {key}: the value holds a line break or a control "
                                     "character")
            if found is header_env and not _ENV_NAME.fullmatch(value.strip()):
                raise _error(target, f"option {key}={value!r} is not an environment variable "
                                     "name")
            found[name] = value.strip() if found is header_env else value
    return headers, header_env


def _valid_value(value: str) -> bool:
    """What http.client can send as a header value: latin-1 without control characters."""
    return all(ch == "\t" or 32 <= ord(ch) < 127 or 160 <= ord(ch) < 256 for ch in value)


def _error(target: eventsync.Target, message: str) -> eventsync.TargetError:
    return eventsync.TargetError(f"target {target.name}: {message}")
