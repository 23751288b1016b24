"""`eventsync sync status`: the journal, every target's delivery counts, and what is wrong."""

from __future__ import annotations

import time
from typing import Any

import click

from eventsync.audit import DROPPED_LOCAL, REFUSED_DISCARD, AuditLog
from eventsync.cli.context import AppContext, app, emit_json
from eventsync.cli.status_text import print_status
from eventsync.cli.targets_cmd import plugin_problem
from eventsync.config import EventSyncConfig, load_config
from eventsync.delivery.authority import Problem, resolve_authority
from eventsync.delivery.drain_facts import DrainFacts
from eventsync.delivery.drains import RESET_KEY
from eventsync.delivery.ledger import Ledger
from eventsync.delivery.ledger_report import LedgerReport
from eventsync.delivery.targets import TargetRegistry, redact_url
from eventsync.home import DB_NAME
from eventsync.maintenance.gc import gc_preview, journal_growth, parse_duration
from eventsync.maintenance.migrate import migration_summary
from eventsync.queue.offline_queue import peek_stats, target_queue_path
from eventsync.queue.spec_kitty_rules import EVICTED_TEAMSPACE
from eventsync.receivers import Target
from eventsync.work import WorkQueue

DEPLOYMENT_KEYS = ("server_instance_id", "deployment_id", "environment_name", "git_sha")


@click.command("status")
@click.option("--check", is_flag=True, help="Exit 1 when any problem is found.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(check: bool, as_json: bool) -> None:
    """Show the journal, per-target delivery counts, the active target and problems."""
    ctx = app(read_only=True)
    report = build_status(ctx)
    if as_json:
        emit_json(report)
    else:
        print_status(report)
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
    reasons = LedgerReport(ctx.store)
    active = authority.target.name if authority.target else None
    registered = registry.list()
    targets = [_target_status(t, ledger, reasons, active, ctx.plugins, config)
               for t in registered]
    migration = migration_summary(ctx.store)
    problems = [*authority.problems, *_config_problems(config),
                *_failing_problems(targets, config),
                *_orphan_problems(targets, active), *_migration_problems(migration)]
    audit = AuditLog(ctx.store)
    return {
        "journal": {**journal_growth(ctx.store), "gc": _gc_preview(ctx, config)},
        "targets": targets,
        "authority": {**authority.to_dict(), "problems": [p.to_dict() for p in problems]},
        "config": {"preset": config.preset, "retention": config.retention,
                   "delivery": config.delivery},
        "queue": queue_status(ctx, config, authority.target),
        "migration": migration,
        "audit": {"refused_discards": audit.count(REFUSED_DISCARD),
                  "dropped_local": audit.counter(DROPPED_LOCAL)},
        "work": _work_stats(ctx),
    }


def queue_status(ctx: AppContext, config: EventSyncConfig, target: Target | None
                 ) -> dict[str, Any]:
    """With retention off, the active target's offline queue: where events wait until sent.

    `evicted` counts the teamspace-family events the cap pushed out, which the queue audits
    one by one (local-family events are discardable and not recorded).
    """
    if config.retention or not config.delivers:
        return {"events": 0, "oldest_age_seconds": None, "evicted": None, "path": None}
    stats = peek_stats(target_queue_path(target, ctx.home))
    oldest = stats["oldest_enqueued_at"]
    return {"events": stats["events"],
            "oldest_age_seconds": round(max(0.0, time.time() - oldest), 1) if oldest else None,
            "evicted": AuditLog(ctx.store).count(EVICTED_TEAMSPACE), "path": stats["path"]}


def _work_stats(ctx: AppContext) -> dict[str, int]:
    queue = WorkQueue(ctx.home / DB_NAME, read_only=ctx.read_only)
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


def _target_status(target: Target, ledger: Ledger, reasons: LedgerReport, active: str | None,
                   plugins: Any, config: EventSyncConfig) -> dict[str, Any]:
    """One target's row: counts, why it is behind (newest error, since when, top reasons)."""
    assert target.id is not None
    counts = ledger.counts(target.id)
    failing = ledger.failing_since(target.id)
    facts = DrainFacts.of(target)
    behind = counts.retrying + counts.terminal_failed > 0 or not config.retention
    reset = target.metadata.get(RESET_KEY)
    problem = plugin_problem(target, plugins)
    return {
        "name": target.name, "type": target.type, "url": redact_url(target.url),
        "active": target.name == active, "delivered": counts.delivered,
        "duplicate": counts.duplicate, "pending": counts.pending, "retrying": counts.retrying,
        "terminal_failed": counts.terminal_failed,
        "unreachable_since": failing[0] if failing else facts.unreachable_since,
        "last_error": (facts.last_error if behind else None) or (failing[1] if failing else None),
        "last_error_at": facts.last_error_at if behind else None,
        "retry_reasons": [r.to_dict() for r in reasons.retry_reasons(target.id)],
        "plugin": None if problem else _plugin_of(target, plugins),
        "problem": problem.to_dict() if problem else None,
        "deployment": {key: target.metadata.get(key) for key in DEPLOYMENT_KEYS},
        "advisory": (f"target may have been reset ({reset}); re-drain with "
                     f"`eventsync sync retry --target {target.name} --all`") if reset else None,
    }


def _plugin_of(target: Target, plugins: Any) -> str | None:
    found = plugins.receiver_types().get(target.type)
    return found.plugin if found else None


def _orphan_problems(targets: list[dict[str, Any]], active: str | None) -> list[Problem]:
    """Every target whose receiver plugin is missing, not only the active one (whose problem
    the authority already reports)."""
    return [Problem(t["problem"]["message"], t["problem"]["fix"])
            for t in targets if t["problem"] and t["name"] != active]


def _migration_problems(migration: dict[str, int]) -> list[Problem]:
    if not migration["conflicts"]:
        return []
    return [Problem(f"{migration['conflicts']} migration conflict(s) still open",
                    "eventsync sync migrate (lists them); then eventsync sync migrate "
                    "--resolve ID --keep journal|source")]
