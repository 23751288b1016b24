"""`eventsync sync daemon`: drain every target on an interval until SIGINT/SIGTERM.

A target that is unreachable or not ready is backed off (doubling up to `--max-backoff`) so an
offline laptop does not spin; progress goes to stderr, one line per target that did something.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from eventsync.cli.context import app
from eventsync.cli.drain_cmd import drains_for
from eventsync.config import load_config
from eventsync.delivery.drain_runner import DrainOutcome, DrainRunner, scheduler_config
from eventsync.delivery.targets import TargetRegistry


@click.command("daemon")
@click.option("--interval", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="Seconds between rounds.")
@click.option("--max-backoff", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Longest wait before retrying an unreachable target, in seconds.")
def daemon(interval: float, max_backoff: float) -> None:
    """Drain every registered target on an interval; stop cleanly on SIGINT/SIGTERM."""
    ctx = app()
    stop = StopRequest()
    backoff = Backoff(interval, max_backoff)
    with _signals(stop):
        click.echo(f"eventsync daemon: draining every {interval:g}s; stop with Ctrl-C", err=True)
        while not stop.is_set():
            config = load_config(ctx.home)
            if not config.delivers:
                click.echo("eventsync daemon: delivery is off; waiting", err=True)
            else:
                due = [t for t in TargetRegistry(ctx.store).list() if backoff.due(t.name)]
                runner = DrainRunner(drains_for(ctx, config), ctx.home, scheduler_config(config),
                                     batch_size=config.batch_size, should_stop=stop.is_set)
                try:
                    outcomes = runner.run(due, wait=False)
                finally:
                    runner.close()
                for outcome in outcomes.values():
                    _report(outcome, backoff)
            stop.wait(interval)
    click.echo("eventsync daemon: stopped", err=True)


class Backoff:
    """Per-target delay that doubles while a target fails and resets when it works."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self._delay: dict[str, float] = {}
        self._until: dict[str, float] = {}

    def due(self, name: str) -> bool:
        return time.monotonic() >= self._until.get(name, 0.0)

    def failed(self, name: str) -> float:
        delay = min(self.cap, self._delay.get(name, self.base) * 2)
        self._delay[name] = delay
        self._until[name] = time.monotonic() + delay
        return delay

    def worked(self, name: str) -> None:
        self._delay.pop(name, None)
        self._until.pop(name, None)


def _report(outcome: DrainOutcome, backoff: Backoff) -> None:
    if outcome.error is not None:
        delay = backoff.failed(outcome.target)
        click.echo(f"eventsync daemon: {outcome.target}: {outcome.error}; next try in "
                   f"{delay:g}s", err=True)
        return
    report = outcome.report
    assert report is not None
    if report.stopped and report.stopped != "stopped on request":
        delay = backoff.failed(outcome.target)
        click.echo(f"eventsync daemon: {outcome.target}: {report.stopped}; next try in "
                   f"{delay:g}s", err=True)
    else:
        backoff.worked(outcome.target)
    if report.attempted:
        click.echo(f"eventsync daemon: {report.target}: {report.delivered} delivered, "
                   f"{report.duplicate} duplicate, {report.retrying} retrying, "
                   f"{report.terminal_failed} terminal-failed", err=True)


class StopRequest:
    """Set from a signal handler, read by the main loop and the drain workers.

    A plain attribute, not a `threading.Event`: the handler runs on the main thread between two
    bytecodes, possibly while that thread is inside `Event.wait()` holding the event's lock, and
    `Event.set()` from there would wait for that lock forever (the daemon then ignores SIGTERM).
    """

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))


@contextmanager
def _signals(stop: StopRequest) -> Iterator[None]:
    wanted = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
