"""`eventsync sync targets`: register, list, remove and choose delivery targets."""

from __future__ import annotations

from typing import Any

import click

from eventsync.cli.context import app, emit_json, emit_table
from eventsync.config import load_config, set_value
from eventsync.delivery.attempts import AttemptLog
from eventsync.delivery.authority import Problem
from eventsync.delivery.ledger import Ledger
from eventsync.delivery.targets import TargetRegistry, redact_options, redact_url
from eventsync.delivery.transport import check_url, schemes_of
from eventsync.errors import EventSyncError, TargetError
from eventsync.receivers import Target


@click.group()
def targets() -> None:
    """Register, list, remove and choose delivery targets."""


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` pairs into a dict; a malformed pair is a one-line error."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TargetError(f"--option expects KEY=VALUE, got {pair.split('=')[0]!r}")
        options[key.strip()] = value
    return options


@targets.command("add")
@click.argument("name")
@click.option("--type", "type_name", required=True, help="Receiver type (see `eventsync plugins`).")
@click.option("--url", required=True, help="Where the receiver posts.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Receiver option; repeatable. Secret-looking values are never printed.")
@click.option("--activate", is_flag=True, help="Make it the active target.")
def add(name: str, type_name: str, url: str, options: tuple[str, ...], activate: bool) -> None:
    """Register a target NAME of receiver type --type at --url."""
    ctx = app()
    cls = ctx.plugins.receiver_class(type_name)
    parsed = parse_options(options)
    probe = Target(name, type_name, url, parsed)
    getattr(cls, "check_target", lambda _t: None)(probe)  # its own wording first
    check_url(url, schemes_of(cls))
    target = TargetRegistry(ctx.store).add(name, type_name, url, parsed)
    if activate:
        set_value(ctx.home, "sync.active_target", name)
    click.echo(f"added target {target.name} ({target.identity})"
               + (", now active" if activate else ""))


@targets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the targets as JSON.")
def list_cmd(as_json: bool) -> None:
    """List targets, sorted by name."""
    ctx = app(read_only=True)
    active = load_config(ctx.home).active_target
    rows = [describe_target(t, active, ctx.plugins) for t in TargetRegistry(ctx.store).list()]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no targets; add one with `eventsync sync targets add NAME --type T --url U`")
        return
    emit_table(["", "name", "type", "url", "identity", "plugin"],
               [["*" if r["active"] else "", r["name"], r["type"], r["url"], r["identity"],
                 r["plugin"] or "MISSING"] for r in rows])
    for row in rows:
        if row["problem"]:
            click.echo(f"problem: {row['problem']['message']} (fix: {row['problem']['fix']})")


def describe_target(target: Target, active: str | None, plugins: Any) -> dict[str, Any]:
    """The public JSON form of a target, secrets redacted; `problem` says what blocks it."""
    problem = plugin_problem(target, plugins)
    provider = plugins.receiver_types().get(target.type)
    return {
        "name": target.name, "type": target.type, "url": redact_url(target.url),
        "identity": target.identity, "active": target.name == active,
        "plugin": provider.plugin if provider and not problem else None,
        "options": redact_options(target.options),
        "problem": problem.to_dict() if problem else None,
    }


def plugin_problem(target: Target, plugins: Any) -> Problem | None:
    """Why no receiver can be built for this target (its plugin missing, or two plugins
    claiming its type), with the fix; None when it can."""
    try:
        plugins.receiver_class(target.type)
    except EventSyncError as exc:
        if target.type in plugins.receiver_types():  # registered twice: a conflict
            return Problem(f"target {target.name!r}: {exc}",
                           "eventsync plugins; then eventsync plugins uninstall one of the two")
        return Problem(f"target {target.name!r}: {exc}",
                       f"eventsync plugins install eventsync-{target.type}, or eventsync sync "
                       f"targets remove {target.name} --forget-ledger")
    return None


@targets.command("remove")
@click.argument("name")
@click.option("--forget-ledger", is_flag=True,
              help="Also delete what the ledger knows of this target's deliveries.")
def remove(name: str, forget_ledger: bool) -> None:
    """Remove a target; refused while the ledger holds its history unless --forget-ledger."""
    ctx = app()
    registry = TargetRegistry(ctx.store)
    target = registry.get(name)
    ledger = Ledger(ctx.store)
    assert target.id is not None
    if ledger.has_rows(target.id):
        if not forget_ledger:
            raise TargetError(
                f"target {name!r} has delivery history in the ledger; "
                "pass --forget-ledger to delete it along with the target"
            )
        ledger.forget(target.id)
        AttemptLog(ctx.store).forget(target.id)
    registry.remove(name)
    if load_config(ctx.home).active_target == name:
        set_value(ctx.home, "sync.active_target", "")
    click.echo(f"removed target {name}")


@targets.command("use")
@click.argument("name")
def use(name: str) -> None:
    """Make NAME the active target."""
    ctx = app()
    TargetRegistry(ctx.store).get(name)
    set_value(ctx.home, "sync.active_target", name)
    click.echo(f"active target: {name}")
