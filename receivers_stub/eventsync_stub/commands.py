"""`eventsync stub serve`: the stub receiver as a long-running command.

The first stdout line is `listening on http://HOST:PORT`, flushed at once, so that a script or a
test can start it with `--port 0` and read the URL. SIGINT and SIGTERM end it cleanly (exit 0).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import click

import eventsync

FAULT_HELP = "Scripted faults, for tests: see docs/batch-api.md."


@click.group("stub")
def stub() -> None:
    """A real localhost receiver for demos and tests (plugin eventsync-stub)."""


@stub.command("serve", epilog=FAULT_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to bind; 0 picks a free one.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keep received events in this SQLite file (default: in memory).")
@click.option("--max-event-bytes", type=click.IntRange(min=1), default=None,
              help="Answer failed_permanent for an event whose JSON is larger.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=None,
              help="Answer HTTP 413 to a request body that is larger.")
@click.option("--reject-type", "reject_types", multiple=True, metavar="TYPE",
              help="Answer rejected for events of this type (repeatable).")
@click.option("--fail-every", type=click.IntRange(min=1), default=None, metavar="N",
              help="Answer every Nth batch request with HTTP 503 and Retry-After: 1.")
@click.option("--drop-every", type=click.IntRange(min=1), default=None, metavar="N",
              help="Store every Nth batch, then cut the connection mid-response.")
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, metavar="N",
              help="Delay each batch request by N ms.")
@click.option("--reply-delay-ms", type=click.IntRange(min=0), default=0, metavar="N",
              help="Store each batch, then wait N ms before answering (crash tests).")
@click.option("--auth-token-env", metavar="VAR", default=None,
              help="Require `Authorization: Bearer <value of $VAR>` (else HTTP 401).")
@click.option("--private-teamspace", is_flag=True,
              help='Answer batches with HTTP 403 {"code": "private_teamspace"}.')
@click.option("--retry-after", default="1", show_default=True, metavar="VALUE",
              help="The Retry-After of --fail-every answers: seconds or an HTTP date.")
@click.option("--teamspace", is_flag=True,
              help="Answer as the Teamspace server does: /api/v1/me, /oauth/token, limits, "
                   "X-Team-Slug and protocol checks (docs/teamspace.md).")
@click.option("--refresh-token-env", metavar="VAR", default=None,
              help="Teamspace: a refresh token /oauth/token accepts (it rotates on use).")
@click.option("--token-ttl", type=click.IntRange(min=0), default=3600, show_default=True,
              metavar="SECONDS", help="Teamspace: lifetime of the access tokens it issues.")
@click.option("--refresh-replays", type=click.IntRange(min=0), default=0, metavar="N",
              help="Teamspace: answer the first N refreshes 409 refresh_replay_benign_retry.")
@click.option("--private-team-id", default=None, metavar="ID",
              help="Teamspace: the user's Private Teamspace id (default team-private-7f3a).")
@click.option("--no-private-team", is_flag=True,
              help="Teamspace: /api/v1/me lists no Private Teamspace.")
@click.option("--missing-private-team", is_flag=True,
              help="Teamspace: answer batches 403 direct_ingress_missing_private_team.")
@click.option("--protocol", default="2.0", show_default=True, metavar="VERSION",
              help="Teamspace: the sync protocol it accepts (else HTTP 412).")
@click.option("--max-events-per-batch", type=click.IntRange(min=1), default=1000,
              show_default=True, help="Teamspace: advertised and enforced (HTTP 413).")
@click.option("--max-decompressed-bytes", type=click.IntRange(min=1), default=1024 * 1024,
              show_default=True, help="Teamspace: advertised and enforced (HTTP 413).")
@click.option("--status-for", "status_for", multiple=True, metavar="TYPE=WORD",
              help="Teamspace: answer WORD (accepted, warning, queued, ...) for events of TYPE.")
@click.option("--refuse-type", "refuse_types", multiple=True, metavar="TYPE=CATEGORY",
              help="Teamspace: answer rejected with error_category CATEGORY for TYPE.")
@click.option("--invalid-type", "invalid_types", multiple=True, metavar="TYPE",
              help="Teamspace: HTTP 400 whose details name the events of TYPE.")
@click.option("--poison-type", "poison_types", multiple=True, metavar="TYPE",
              help="Teamspace: HTTP 400 without details for any batch holding TYPE.")
@click.option("--instance-id", default=None,
              help="Fixed server_instance_id (default: random, kept in --db when given).")
@click.option("--deployment-id", default="eventsync-stub", show_default=True)
@click.option("--environment-name", default="local", show_default=True)
@click.option("--git-sha", default=None)
def serve(host: str, port: int, db: Path | None, auth_token_env: str | None,
          **options: Any) -> None:
    """Serve the batch API until SIGINT or SIGTERM."""
    from eventsync_stub.server import StubServer

    options["auth_token"] = _token_from(auth_token_env)
    options["teamspace"] = _teamspace_mode(options)
    try:
        server = StubServer(host, port, db, **options)
    except sqlite3.Error as exc:
        raise eventsync.StorageError(f"cannot open --db {db}: {exc}") from None
    try:
        server.start()
    except OSError as exc:
        server.stop()
        raise eventsync.EventSyncError(f"cannot listen on {host}:{port}: "
                                       f"{exc.strerror or exc}") from None
    _serve_until_signalled(server)


_TEAMSPACE_OPTIONS = ("refresh_token_env", "token_ttl", "refresh_replays", "private_team_id",
                      "no_private_team", "missing_private_team", "protocol", "max_events_per_batch",
                      "max_decompressed_bytes", "status_for", "refuse_types", "invalid_types",
                      "poison_types")


def _teamspace_mode(options: dict[str, Any]) -> Any:
    """Pop the Teamspace options into a `TeamspaceMode` (None without --teamspace)."""
    from eventsync_stub.teamspace import DEFAULT_TEAM, TeamspaceMode

    given = {name: options.pop(name) for name in _TEAMSPACE_OPTIONS}
    if not options.pop("teamspace"):
        return None
    return TeamspaceMode(
        access_token=options.get("auth_token"),
        refresh_token=_token_from(given["refresh_token_env"]),
        token_ttl=given["token_ttl"],
        refresh_replays=given["refresh_replays"],
        private_team=None if given["no_private_team"] else (given["private_team_id"]
                                                             or DEFAULT_TEAM),
        protocol=given["protocol"],
        max_events_per_batch=given["max_events_per_batch"],
        max_decompressed_bytes=given["max_decompressed_bytes"],
        status_for=_pairs("--status-for", given["status_for"]),
        refuse_types=_pairs("--refuse-type", given["refuse_types"]),
        invalid_types=frozenset(given["invalid_types"]),
        poison_types=frozenset(given["poison_types"]),
        missing_private_team=given["missing_private_team"],
    )


def _pairs(flag: str, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, word = value.partition("=")
        if not (sep and name and word):
            raise eventsync.ConfigError(f"{flag} {value!r}: give TYPE=VALUE")
        pairs.append((name, word))
    return tuple(pairs)


def _token_from(variable: str | None) -> str | None:
    if variable is None:
        return None
    token = os.environ.get(variable, "")
    if not token:
        raise eventsync.ConfigError(f"--auth-token-env: environment variable {variable} is not set")
    return token


def _serve_until_signalled(server: Any) -> None:
    """Handlers go in before the first line is printed: a script may signal as soon as it reads
    the URL, and the default SIGTERM action would end the process without closing the db.

    The handler only appends to a list: it runs on the main thread between two bytecodes, and a
    `threading.Event.set()` there could wait forever for the lock of the `wait()` it interrupted.
    """
    signalled: list[int] = []
    wanted = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, lambda signum, _frame: signalled.append(signum))
                for sig in wanted}
    try:
        click.echo(f"listening on {server.url}")
        sys.stdout.flush()
        if not server.loopback:
            click.echo(f"eventsync-stub: warning: {server.host} is not a loopback address; "
                       "anyone who can reach this machine can post events", err=True)
        while not signalled:
            time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        held = server.app.storage.count()
        server.stop()
    if sys.stderr.isatty():
        click.echo(f"eventsync-stub: stopped; holding {held} events after "
                   f"{server.app.batch_requests} batch requests", err=True)
