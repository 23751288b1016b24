"""`eventsync auth`: store and forget target tokens in `credentials.toml` (mode 0600).

A token is read from stdin (a hidden prompt on a terminal), never from an argument: arguments
end up in `ps`, shell history and CI logs. It is a bare access token or the JSON form
`{"access_token", "refresh_token", "expires_at" | "expires_in"}` (CONTRACTS §6), from which a
refreshing receiver (Teamspace) renews it itself. No command here ever prints a token.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from eventsync.cli.context import app, emit_json, emit_table
from eventsync.delivery.credentials import (
    TOKEN_ENV_OPTION,
    get_credentials,
    parse_token_input,
    remove_token,
    set_token,
    stored_targets,
)
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import ConfigError, TargetError


@click.group()
def auth() -> None:
    """Store tokens for targets (read from stdin, kept in credentials.toml, never printed)."""


@auth.command("set-token", context_settings={"ignore_unknown_options": True,
                                             "allow_extra_args": True})
@click.argument("target")
@click.pass_context
def set_token_cmd(click_ctx: click.Context, target: str) -> None:
    """Store the token for TARGET, read from stdin.

    Pipe it in (`eventsync auth set-token prod < token.txt`) or type it at the hidden prompt:
    a bare access token, or JSON {"access_token", "refresh_token", "expires_at"|"expires_in"}.
    """
    if click_ctx.args:
        # Refused without echoing: an extra argument is most likely the token itself.
        raise ConfigError("set-token takes only TARGET; the token is read from stdin, never "
                          f"from arguments: eventsync auth set-token {target} < FILE")
    ctx = app()
    stored = parse_token_input(_read_token())
    path = set_token(ctx.home, target, stored)
    extra = ""
    if stored.refresh_token:
        extra = " with a refresh token" + (f", expiring {_iso(stored.expires_at)}"
                                           if stored.expires_at is not None else "")
    click.echo(f"stored a token for target {target}{extra} in {path}")
    registered = TargetRegistry(ctx.store).find(target)
    if registered is None:
        click.echo(f"eventsync: note: no target named {target} is registered yet; the token is "
                   "used once you add it", err=True)
    elif registered.options.get(TOKEN_ENV_OPTION):
        variable = registered.options[TOKEN_ENV_OPTION]
        click.echo(f"eventsync: note: while ${variable} is set (option {TOKEN_ENV_OPTION}), "
                   f"target {target} uses it instead", err=True)


@auth.command("remove-token")
@click.argument("target")
def remove_token_cmd(target: str) -> None:
    """Forget the stored token for TARGET."""
    if not remove_token(app().home, target):
        raise TargetError(f"no token is stored for target {target!r}")
    click.echo(f"removed the token for target {target}")


@auth.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the targets that have a stored token (never the tokens)."""
    ctx = app()
    registry = TargetRegistry(ctx.store)
    rows = []
    for name in stored_targets(ctx.home):
        stored = get_credentials(ctx.home, name)
        rows.append({"target": name, "source": "credentials.toml",
                     "registered": registry.find(name) is not None,
                     "refresh_token": bool(stored and stored.refresh_token),
                     "expires_at": _iso(stored.expires_at) if stored else None})
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no stored tokens; add one with `eventsync auth set-token TARGET < FILE`")
        return
    emit_table(["target", "source", "registered", "refresh", "expires"],
               [[r["target"], r["source"], "yes" if r["registered"] else "no",
                 "yes" if r["refresh_token"] else "no", r["expires_at"] or "-"] for r in rows])


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _read_token() -> str:
    """The token from stdin: a hidden prompt on a terminal, else everything piped in."""
    if sys.stdin is None:
        raise ConfigError("no token given: pipe it on stdin")
    if sys.stdin.isatty():
        return click.prompt("Token", hide_input=True, err=True)
    return sys.stdin.read()
