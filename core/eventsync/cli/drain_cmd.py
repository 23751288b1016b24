"""`eventsync sync now` and `sync retry`: drain targets and re-queue what the operator asks."""

from __future__ import annotations

import click

from eventsync.cli.context import AppContext, app, emit_json
from eventsync.cli.progress import progress, progress_enabled
from eventsync.config import EventSyncConfig, load_config
from eventsync.delivery.authority import resolve_authority
from eventsync.delivery.dispatcher import DEFAULT_BATCH_SIZE, DrainReport
from eventsync.delivery.drain_facts import DrainFacts, one_line
from eventsync.delivery.drain_runner import DrainOutcome, DrainRunner, scheduler_config
from eventsync.delivery.drains import Drains
from eventsync.delivery.ledger import Ledger, RetryPolicy
from eventsync.delivery.sources import QueueSource
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import AuthorityError, ReceiverNotReady
from eventsync.home import DB_NAME
from eventsync.queue.offline_queue import open_target_queue
from eventsync.receivers import Target


def drains_for(ctx: AppContext, config: EventSyncConfig) -> Drains:
    """Drains over the journal, or over the target's offline queue when retention is off."""
    retry = RetryPolicy(config.retry_base_seconds, config.retry_max_seconds)
    queue_source = None
    if not config.retention:
        def queue_source(target: Target) -> QueueSource:
            return QueueSource(open_target_queue(target, ctx.home, config))
    return Drains(ctx.store, ctx.plugins, home=ctx.home, retry=retry, queue_source=queue_source)


def resolve_target(ctx: AppContext, config: EventSyncConfig, flag: str | None) -> Target | None:
    """The one target to talk to; problems are printed, and fatal only when none resolves."""
    authority = resolve_authority(TargetRegistry(ctx.store), config, flag=flag,
                                  plugins=ctx.plugins)
    if authority.target is None:
        if config.delivery == "none" and not authority.problems:
            return None
        details = "; ".join(f"{p.message} (fix: {p.fix})" for p in authority.problems)
        raise AuthorityError(details or "no active target; run `eventsync sync targets use NAME`")
    for problem in authority.problems:
        click.echo(f"eventsync: warning: {problem.message} (fix: {problem.fix})", err=True)
    return authority.target


@click.command("now")
@click.option("--target", "target_name", default=None, help="Drain this target, not the active.")
@click.option("--all", "every", is_flag=True, help="Drain every target, concurrently per host.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=None,
              help=f"Events per request (default {DEFAULT_BATCH_SIZE}, or delivery.batch_size).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def now(target_name: str | None, every: bool, batch_size: int | None, as_json: bool) -> None:
    """Drain the active (or named) target until nothing is due."""
    ctx = app()
    config = load_config(ctx.home)
    if not (ctx.home / DB_NAME).exists():
        _refuse_without_database(config, every, as_json)  # writes nothing (issue 15.10)
        return
    if every:
        targets = TargetRegistry(ctx.store).list()
    else:
        target = resolve_target(ctx, config, target_name)
        if target is None:
            _explain_no_delivery(as_json)
            return
        targets = [target]
    with progress("draining", enabled=progress_enabled(as_json) and not every) as bar:
        runner = DrainRunner(drains_for(ctx, config), ctx.home, scheduler_config(config),
                             batch_size=batch_size or config.batch_size, progress=bar.update,
                             on_start=bar.start, on_wait=_say_waiting)
        try:
            outcomes = runner.run(targets)
        finally:
            runner.close()
    _finish([outcomes[t.name] for t in targets if t.name in outcomes], as_json, every)


def _refuse_without_database(config: EventSyncConfig, every: bool, as_json: bool) -> None:
    """No database yet means no target: say so without creating the file or a table."""
    if every:
        if as_json:
            emit_json([])
        return
    if config.delivery == "none":
        _explain_no_delivery(as_json)
        return
    raise AuthorityError("no active target is set (fix: eventsync sync targets add NAME "
                         "--type TYPE --url URL --activate)")


def _say_waiting(name: str) -> None:
    click.echo(f"eventsync: another process is draining {name}; waiting for it", err=True)


STOPPED_EARLY_EXIT = 3


def _finish(outcomes: list[DrainOutcome], as_json: bool, every: bool) -> None:
    """Print every report; a failed gate or plugin exits 1, a drain that stopped early with
    events still due exits 3 (CONTRACTS §6), each with one stderr line saying why."""
    failures = [o for o in outcomes if o.error is not None]
    reports = [o.report for o in outcomes if o.report is not None]
    if as_json:
        rows = [r.to_dict() for r in reports]
        if every:
            emit_json(rows + [{"target": o.target, "error": str(o.error)} for o in failures])
        elif rows:
            emit_json(rows[0])
    else:
        for report in reports:
            click.echo(summary_line(report))
        if every and len(reports) > 1:
            click.echo(total_line(reports, _error_times(reports)))
    for failure in failures:
        message = str(failure.error)
        if isinstance(failure.error, ReceiverNotReady):
            message = f"target {failure.target} is not ready: {message}"
        elif failure.target not in message:
            message = f"{failure.target}: {message}"
        click.echo(f"eventsync: error: {message}", err=True)
    stopped = [r for r in reports if r.stopped and r.remaining > 0]
    for report in stopped:
        click.echo(f"eventsync: error: {report.target}: stopped early ({report.stopped}); "
                   f"{report.remaining} events remain due", err=True)
    if failures:
        click.get_current_context().exit(1)
    if stopped:
        click.get_current_context().exit(STOPPED_EARLY_EXIT)


def summary_line(report: DrainReport) -> str:
    """One line per target, labelled with it; the newest error when anything still waits."""
    line = (f"{report.target}: {report.attempted} attempted, {report.delivered} delivered, "
            f"{report.duplicate} duplicate, {report.retrying} retrying, "
            f"{report.terminal_failed} terminal-failed")
    if (report.retrying or report.terminal_failed) and report.last_error:
        line += f"; newest error: {one_line(report.last_error)}"
    return line


def _error_times(reports: list[DrainReport]) -> dict[str, int]:
    """When each target's newest error happened (recorded by the drain in its metadata)."""
    registry = TargetRegistry(app().store)
    times = {}
    for report in reports:
        target = registry.find(report.target)
        if target is not None:
            times[report.target] = DrainFacts.of(target).last_error_at or 0
    return times


def total_line(reports: list[DrainReport], error_times: dict[str, int]) -> str:
    """`--all`'s closing line: the sums, and the newest error of any target, labelled."""
    sums = {name: sum(getattr(r, name) for r in reports)
            for name in ("attempted", "delivered", "duplicate", "retrying", "terminal_failed")}
    line = (f"all {len(reports)} targets: {sums['attempted']} attempted, {sums['delivered']} "
            f"delivered, {sums['duplicate']} duplicate, {sums['retrying']} retrying, "
            f"{sums['terminal_failed']} terminal-failed")
    failing = [r for r in reports if (r.retrying or r.terminal_failed) and r.last_error]
    if failing:
        newest = max(failing, key=lambda r: error_times.get(r.target, 0))
        line += f"; newest error: {newest.target}: {one_line(newest.last_error)}"
    return line


def _explain_no_delivery(as_json: bool) -> None:
    message = ("delivery is off (preset local-retention or delivery = none): events are kept "
               "in the journal and sent nowhere")
    if as_json:
        emit_json({"target": None, "attempted": 0, "delivered": 0, "duplicate": 0,
                   "retrying": 0, "terminal_failed": 0, "message": message})
    else:
        click.echo(message)


@click.command("retry")
@click.option("--target", "target_name", required=True, help="The target to re-queue for.")
@click.option("--failed", is_flag=True, help="Re-queue terminal-failed events.")
@click.option("--all", "everything", is_flag=True,
              help="Re-post every retained event, keeping the ledger history "
                   "(after a server reset; receivers answer duplicate for what they hold).")
def retry(target_name: str, failed: bool, everything: bool) -> None:
    """Make events due again for a target: retrying ones now, terminal-failed with --failed."""
    if failed and everything:
        raise click.UsageError("--failed and --all are alternatives: --all already includes "
                               "the terminal-failed events")
    ctx = app()
    config = load_config(ctx.home)
    target = TargetRegistry(ctx.store).get(target_name)
    assert target.id is not None
    ledger = Ledger(ctx.store)
    if everything:
        count = ledger.retry_all(target.id)
        drains_for(ctx, config).clear_reset(target)
        click.echo(f"{target.name}: {count} events are due again (ledger history kept), and so "
                   "is every event not yet tried; run `eventsync sync now`")
        return
    count = ledger.retry_failed(target.id) if failed else ledger.retry_now(target.id)
    if failed:
        click.echo(f"{target.name}: {count} terminal-failed events are due now; run "
                   "`eventsync sync now`")
        return
    retrying = ledger.counts(target.id).retrying
    click.echo(f"{target.name}: {retrying} retrying events are due now ({count} were waiting "
               "on a backoff); run `eventsync sync now`")
