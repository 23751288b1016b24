"""A nats target's URL and options, validated once, with messages that never show a secret.

Secrets never reach the database: `creds` is the path of a NATS credentials file (read when
connecting) and `token_env` names an environment variable (or `eventsync auth set-token NAME`
stores the token in credentials.toml). A URL with a user or password in it is refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import eventsync
from eventsync_nats.subjects import DEFAULT_SUBJECT, SubjectTemplate, parse_subject

SCHEMES = ("nats", "tls")
DEFAULT_PORT = 4222
DEFAULT_TIMEOUT = 10.0
OPTIONS = ("allow_insecure", "create_stream", "creds", "stream", "subject", "timeout",
           "token_env")
# NATS stream names: printable, no whitespace, no subject or path separators.
_STREAM = re.compile(r"[!-~]{1,255}")
_STREAM_BAD = re.compile(r"[.*>/\\]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class NatsOptions:
    """What a nats target asks for. Holds no secret: the token is read at connect time."""

    server: str
    stream: str
    subject: SubjectTemplate
    creds: str | None
    timeout: float
    create_stream: bool


def parse_options(target: eventsync.Target) -> NatsOptions:
    """Validate `target`'s URL and options; `eventsync.TargetError` names the one to fix."""
    options = dict(target.options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise _error(target, f"unknown option {unknown[0]!r} (nats options: "
                             f"{', '.join(OPTIONS)})")
    server = _server(target, eventsync.option_flag(target, "allow_insecure"))
    stream = options.get("stream", "").strip()
    if not stream:
        raise _error(target, "option stream is required (the JetStream stream to publish to): "
                             "add --option stream=NAME")
    if not _STREAM.fullmatch(stream) or _STREAM_BAD.search(stream):
        raise _error(target, f"option stream={stream!r} is not a stream name (no spaces, dots, "
                             "*, >, / or \\)")
    creds = options.get("creds", "").strip() or None
    token_env = options.get("token_env", "").strip()
    if token_env and not _ENV_NAME.fullmatch(token_env):
        raise _error(target, f"option token_env={token_env!r} is not an environment variable "
                             "name")
    if creds is not None and token_env:
        raise _error(target, "give either creds or token_env, not both")
    if creds is not None and not os.path.isabs(os.path.expanduser(creds)):
        raise _error(target, f"option creds={creds!r} must be an absolute path to a .creds file")
    subject = parse_subject(target.name, options.get("subject", DEFAULT_SUBJECT))
    return NatsOptions(server=server, stream=stream, subject=subject, creds=creds,
                       timeout=eventsync.option_timeout(target, DEFAULT_TIMEOUT),
                       create_stream=eventsync.option_flag(target, "create_stream"))


def _server(target: eventsync.Target, allow_insecure: bool) -> str:
    """`nats://host:port` or `tls://host:port`; plain nats only to this machine by default."""
    try:
        parts = urlsplit(target.url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise _error(target, "the URL cannot be parsed") from None
    if parts.scheme not in SCHEMES or not host:
        raise _error(target, "the URL must be nats://HOST:PORT or tls://HOST:PORT")
    if parts.username or parts.password:
        raise _error(target, "the URL must not hold a user or password: use --option "
                             "token_env=VAR or --option creds=/path/to/user.creds")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _error(target, "the URL must be nats://HOST:PORT with no path or query")
    if parts.scheme == "nats" and not allow_insecure and not eventsync.is_loopback(host):
        raise _error(target, "plain nats:// would send events and credentials unencrypted; "
                             "use tls:// (or --option allow_insecure=true on a trusted network)")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}:{port or DEFAULT_PORT}"


def _error(target: eventsync.Target, message: str) -> eventsync.TargetError:
    return eventsync.TargetError(f"target {target.name}: {message}")
