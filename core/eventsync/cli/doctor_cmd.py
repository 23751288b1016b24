"""`eventsync doctor`: every precondition of a working install checked in one go.

Each check prints one line, `PASS` or `FAIL`, and a failure says how to fix it. The checks run
in dependency order and each catches its own failure, so a broken database still lets the
plugin check run: the output is the whole picture, not the first problem.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from eventsync.cli.context import AppContext, app, emit_json
from eventsync.cli.targets_cmd import plugin_problem
from eventsync.config import load_config
from eventsync.delivery.authority import resolve_authority
from eventsync.delivery.targets import TargetRegistry, redact_url
from eventsync.errors import EventSyncError, ReceiverNotReady
from eventsync.home import DB_NAME
from eventsync.receivers import Target

CONNECT_TIMEOUT_SECONDS = 3.0
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text + (f" (fix: {self.fix})" if self.fix else "")


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(as_json: bool) -> None:
    """Check the home, the database, plugins, and the active target's gate and reachability."""
    checks = run_checks(app())
    failed = sum(1 for c in checks if not c.ok)
    if as_json:
        emit_json([c.to_dict() for c in checks])
    else:
        for check in checks:
            click.echo(check.line())
        click.echo(f"doctor: {len(checks) - failed} passed, {failed} failed")
    if failed:
        click.get_current_context().exit(1)


def run_checks(ctx: AppContext) -> list[Check]:
    checks = [_guard("home", lambda: check_home(ctx.home))]
    if not checks[0].ok:
        return checks
    checks.append(_guard("database", lambda: check_database(ctx)))
    checks += _guard_many("plugins", lambda: check_plugins(ctx))
    if checks[1].ok:
        checks += _guard_many("active target", lambda: check_active_target(ctx))
    return checks


def check_home(home: Path) -> Check:
    if not home.is_dir():
        return Check("home", False, f"{home} is not a directory",
                     "set EVENTSYNC_HOME to a directory you own")
    if not os.access(home, os.W_OK | os.X_OK):
        return Check("home", False, f"{home} is not writable",
                     f"chmod u+rwx {home}, or set EVENTSYNC_HOME")
    source = "EVENTSYNC_HOME" if os.environ.get("EVENTSYNC_HOME") else "platform default"
    return Check("home", True, f"{home} ({source}), writable")


def check_database(ctx: AppContext) -> Check:
    path = ctx.home / DB_NAME
    if not path.exists():
        return Check("database", True, f"{path} not created yet (the first command writes it)")
    verdict = ctx.store.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        return Check("database", False, f"{path} is damaged ({verdict})",
                     "restore it from a backup, or move it aside to start afresh")
    events = ctx.store.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'journal'"
    ).fetchone()[0]
    size = path.stat().st_size
    return Check("database", True, f"{path} ({size} bytes, integrity ok"
                 + (")" if events else ", no journal yet)"))


def check_plugins(ctx: AppContext) -> list[Check]:
    infos = ctx.plugins.listing(include_builtins=False)
    broken = [i for i in infos if i.error]
    checks = [Check("plugins", False, f"{i.name}: {i.error}",
                    f"eventsync plugins uninstall {i.name}, or reinstall a fixed version")
              for i in broken]
    for target in TargetRegistry(ctx.store).list():
        problem = plugin_problem(target, ctx.plugins)
        if problem is not None:
            checks.append(Check("plugins", False, problem.message, problem.fix))
    if not checks:
        types = ", ".join(sorted(ctx.plugins.receiver_types())) or "none"
        checks.append(Check("plugins", True, f"{len(infos)} installed, none failing "
                            f"(receiver types: {types})"))
    return checks


def check_active_target(ctx: AppContext) -> list[Check]:
    config = load_config(ctx.home)
    if not config.delivers:
        return [Check("active target", True, f"delivery is off ({config.delivery}); "
                      "nothing to reach")]
    authority = resolve_authority(TargetRegistry(ctx.store), config, plugins=ctx.plugins)
    target = authority.target
    if target is None:
        problem = authority.problems[0] if authority.problems else None
        return [Check("active target", False, problem.message if problem else "none",
                      problem.fix if problem else None)]
    checks = [Check("active target", True,
                    f"{target.name} [{target.type}] {redact_url(target.url)} "
                    f"(from {authority.source})")]
    if plugin_problem(target, ctx.plugins) is not None:
        return checks  # the plugins check already said why no receiver can be built
    checks.append(_guard("gate", lambda: check_gate(ctx, target)))
    checks.append(_guard("reachable", lambda: check_reachable(target)))
    return checks


def check_gate(ctx: AppContext, target: Target) -> Check:
    receiver = ctx.plugins.receiver_class(target.type)(target)
    try:
        receiver.preflight()
    except ReceiverNotReady as exc:
        return Check("gate", False, f"{target.name} is not ready: {exc}",
                     "see the reason; then eventsync doctor")
    finally:
        receiver.close()
    return Check("gate", True, f"{target.name}'s receiver is ready to post")


def check_reachable(target: Target) -> Check:
    """A TCP connection to the target's host and port; `file:` URLs need their directory."""
    parts = urlsplit(target.url)
    if parts.scheme == "file":
        folder = Path(parts.path).parent
        if folder.is_dir():
            return Check("reachable", True, f"{folder} exists")
        return Check("reachable", False, f"{folder} does not exist", f"mkdir -p {folder}")
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    if not parts.hostname or port is None:
        return Check("reachable", True, f"not checked ({parts.scheme}: URLs have no host "
                     "and port to try)")
    where = f"{parts.hostname}:{port}"
    try:
        socket.create_connection((parts.hostname, port), CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Check("reachable", False, f"{where}: {reason}",
                     "start the receiver, or re-add the target with the right --url")
    return Check("reachable", True, f"{where} accepts connections")


def _guard(name: str, check: Callable[[], Check]) -> Check:
    return _guard_many(name, lambda: [check()])[0]


def _guard_many(name: str, checks: Callable[[], list[Check]]) -> list[Check]:
    """A check that raises is a failed check with the error as its detail, never a crash."""
    try:
        return checks()
    except EventSyncError as exc:
        return [Check(name, False, " ".join(str(exc).split()), None)]
    except Exception as exc:  # a plugin's bug in preflight must not hide the other checks
        return [Check(name, False, f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                      "report it to the plugin's author")]
