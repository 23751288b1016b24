"""`eventsync sync status`: the journal, every target's delivery counts, and what is wrong."""

from __future__ import annotations

import time
from typing import Any

import click

from eventsync.audit import DROPPED_LOCAL, REFUSED_DISCARD, AuditLog
from eventsync.cli.context import AppContext, app, emit_json
from eventsync.config import EventSyncConfig, load_config
from eventsync.delivery.authority import Problem, resolve_authority
from eventsync.delivery.drains import RESET_KEY
from eventsync.delivery.ledger import Ledger
from eventsync.delivery.targets import TargetRegistry, redact_url
from eventsync.home import DB_NAME
from eventsync.maintenance.gc import gc_preview, journal_growth, parse_duration
from eventsync.receivers import Target
from eventsync.work import WorkQueue

DEPLOYMENT_KEYS = ("server_instance_id", "deployment_id", "environment_name", "git_sha")


@click.command("status")
@click.option("--check", is_flag=True, help="Exit 1 when any problem is found.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(check: bool, as_json: bool) -> None:
    """Show the journal, per-target delivery counts, the active target and problems."""
    ctx = app()
    report = build_status(ctx)
    if as_json:
        emit_json(report)
    else:
        _print_human(report)
    problems = report["authority"]["problems"]
    if check and problems:
        if not as_json:
            click.echo(f"eventsync: {len(problems)} problem(s) found; each is listed above with "
                       "its fix", err=True)
        click.get_current_context().exit(1)


def build_status(ctx: AppContext) -> dict[str, Any]:
    """Everything `sync status --json` reports, gathered with a handful of queries."""
    config = load_config(ctx.home)
    registry = TargetRegistry(ctx.store)
    authority = resolve_authority(registry, config, plugins=ctx.plugins, check_gate=True,
                                  legacy_queue_dir=ctx.home)
    ledger = Ledger(ctx.store)
    active = authority.target.name if authority.target else None
    targets = [_target_status(t, ledger, active) for t in registry.list()]
    problems = [*authority.problems, *_config_problems(config),
                *_failing_problems(targets, config)]
    audit = AuditLog(ctx.store)
    return {
        "journal": {**journal_growth(ctx.store), "gc": _gc_preview(ctx, config)},
        "targets": targets,
        "authority": {**authority.to_dict(), "problems": [p.to_dict() for p in problems]},
        "config": {"preset": config.preset, "retention": config.retention,
                   "delivery": config.delivery},
        "audit": {"refused_discards": audit.count(REFUSED_DISCARD),
                  "dropped_local": audit.counter(DROPPED_LOCAL)},
        "work": _work_stats(ctx),
    }


def _work_stats(ctx: AppContext) -> dict[str, int]:
    queue = WorkQueue(ctx.home / DB_NAME)
    try:
        return queue.stats()
    finally:
        queue.close()


def _config_problems(config: EventSyncConfig) -> list[Problem]:
    return [Problem(f"config.toml has unknown key {key!r} (kept, ignored)",
                    f"eventsync sync config show; remove {key} from config.toml")
            for key in config.unknown_keys]


def _failing_problems(targets: list[dict[str, Any]], config: EventSyncConfig) -> list[Problem]:
    """A target failing for longer than its backoff cap: every retry since has failed too."""
    now = time.time() * 1000
    return [Problem(f"target {t['name']!r} has been failing for "
                    f"{(now - t['unreachable_since']) / 1000:.0f}s, longer than its backoff cap "
                    f"({config.retry_max_seconds:g}s): {t['last_error'] or 'no detail'}",
                    f"check the target; then eventsync sync retry --target {t['name']}")
            for t in targets if t["unreachable_since"] is not None
            and now - t["unreachable_since"] > config.retry_max_seconds * 1000]


def _gc_preview(ctx: AppContext, config: EventSyncConfig) -> dict[str, Any]:
    """What a gc with the configured policy would free; a bad setting shows as `error`."""
    try:
        older = parse_duration(config.gc_older_than) if config.gc_older_than else None
    except Exception as exc:  # status must render even with a bad gc setting
        return {"policy": config.gc_policy, "events": None, "bytes": None, "protected": None,
                "error": str(exc)}
    return gc_preview(ctx.store, ctx.plugins, config.gc_policy, older_than=older,
                      max_events=config.gc_max_events)


def _target_status(target: Target, ledger: Ledger, active: str | None) -> dict[str, Any]:
    assert target.id is not None
    counts = ledger.counts(target.id)
    failing = ledger.failing_since(target.id)
    reset = target.metadata.get(RESET_KEY)
    return {
        "name": target.name, "type": target.type, "url": redact_url(target.url),
        "active": target.name == active, "delivered": counts.delivered,
        "duplicate": counts.duplicate, "pending": counts.pending, "retrying": counts.retrying,
        "terminal_failed": counts.terminal_failed,
        "unreachable_since": failing[0] if failing else None,
        "last_error": failing[1] if failing else None,
        "deployment": {key: target.metadata.get(key) for key in DEPLOYMENT_KEYS},
        "advisory": (f"target may have been reset ({reset}); re-drain with "
                     f"`eventsync sync retry --target {target.name} --all`") if reset else None,
    }


def _print_human(report: dict[str, Any]) -> None:
    journal = report["journal"]
    click.echo(f"journal: {journal['events']} events, {journal['bytes']} bytes of payload, "
               f"{journal['disk_bytes']} bytes on disk")
    gc = journal["gc"]
    if gc["events"]:
        click.echo(f"  gc ({gc['policy']}) would free {gc['events']} events, {gc['bytes']} bytes")
    audit = report["audit"]
    if audit["refused_discards"] or audit["dropped_local"]:
        click.echo(f"opt-out: {audit['dropped_local']} local events dropped, "
                   f"{audit['refused_discards']} teamspace events kept (discard refused)")
    config = report["config"]
    click.echo(f"config: preset {config['preset'] or '-'}, retention "
               f"{'on' if config['retention'] else 'off'}, delivery {config['delivery']}")
    authority = report["authority"]
    click.echo(f"active target: {authority['target'] or '-'}"
               + (f" (from {authority['source']})" if authority["source"] else ""))
    for t in report["targets"]:
        mark = "*" if t["active"] else " "
        click.echo(f"{mark} {t['name']} [{t['type']}] {t['url']}: {t['delivered']} delivered, "
                   f"{t['pending']} pending, {t['retrying']} retrying, "
                   f"{t['terminal_failed']} terminal-failed")
        if t["advisory"]:
            click.echo(f"    advisory: {t['advisory']}")
    for problem in authority["problems"]:
        click.echo(f"problem: {problem['message']} (fix: {problem['fix']})")
