"""Which ONE target eventsync talks to, and everything that disagrees about it.

Precedence: `--target` flag, `EVENTSYNC_TARGET` (a name), `EVENTSYNC_SERVER_URL` (matched to a
registered target by canonical URL), then `[sync] active_target` in config.toml. The result also
lists problems, each with the command that fixes it. This is the only module that reads those
environment variables, so drains, status and migration can never disagree about the target.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsync.config import NONE, EventSyncConfig
from eventsync.delivery.targets import TargetRegistry, canonical_url
from eventsync.errors import EventSyncError, ReceiverNotReady
from eventsync.queue.scope import scope_digests
from eventsync.receivers import Target

ENV_TARGET = "EVENTSYNC_TARGET"
ENV_SERVER_URL = "EVENTSYNC_SERVER_URL"


@dataclass(frozen=True)
class Problem:
    """Something wrong with the inputs, and the command that fixes it."""

    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Authority:
    """The resolved target (or None), where it came from, and the problems found."""

    target: Target | None
    source: str | None
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.name if self.target else None, "source": self.source,
                "problems": [p.to_dict() for p in self.problems]}


@dataclass(frozen=True)
class TargetScope:
    """Which events a target may be sent (CONTRACTS.md §2, the scope rule).

    `team` / `user` are the target's options, lowercased (None: the target does not restrict
    that part); `digests` are the legacy queue-file digests of its scope (spec-kitty ≤3.2.5's
    16 hex and 3.2.6+'s 64 hex), the routes a migrated event may carry to be due for it.
    """

    team: str | None
    user: str | None
    digests: tuple[str, str]

    def matches_digest(self, digest: str | None) -> bool:
        return digest is not None and digest.lower() in self.digests

    def admits(self, team: str | None, user: str | None, route: str | None) -> bool:
        """The rule the ledger's SQL predicate applies, for code that holds one event."""
        return ((route is None or route in self.digests)
                and (self.team is None or team is None or team.strip().lower() == self.team)
                and (self.user is None or user is None or user.strip().lower() == self.user))


def target_scope(target: Target) -> TargetScope:
    """The scope of a registered target: its `team` and `user` options and its file digests."""
    team = _option(target, "team")
    user = _option(target, "user")
    return TargetScope(team, user, scope_digests(target.url, user, team))


def _option(target: Target, key: str) -> str | None:
    value = target.options.get(key)
    return (value.strip().lower() or None) if isinstance(value, str) else None


def resolve_authority(
    registry: TargetRegistry,
    config: EventSyncConfig,
    *,
    flag: str | None = None,
    environ: Mapping[str, str] | None = None,
    plugins: Any = None,
    check_gate: bool = False,
    legacy_queue_dir: Path | None = None,
) -> Authority:
    """Resolve the active target and diagnose every disagreement."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    target, source = _choose(registry, config, flag, env, problems)
    if not config.delivers:
        # Delivery none is a promise that nothing is posted: no flag or env variable overrides it.
        target, source = None, None
    if target is None and config.delivers and not problems:
        problems.append(Problem("no active target is set",
                                "eventsync sync targets add NAME --type TYPE --url URL --activate"))
    if target is not None:
        problems += _target_problems(target, config, plugins, check_gate)
    if legacy_queue_dir is not None:
        problems += _legacy_problems(registry, legacy_queue_dir)
    return Authority(target, source, tuple(problems))


def _choose(registry: TargetRegistry, config: EventSyncConfig, flag: str | None,
            env: Mapping[str, str], problems: list[Problem]) -> tuple[Target | None, str | None]:
    configured = config.active_target
    if configured and registry.find(configured) is None:
        problems.append(Problem(f"config names active target {configured!r}, which is not "
                                "registered", "eventsync sync targets use NAME"))
    if flag:
        found = registry.find(flag)
        if found is None:
            problems.append(Problem(f"--target names unknown target {flag!r}",
                                    "eventsync sync targets list"))
        return found, "flag" if found else None
    by_name = env.get(ENV_TARGET)
    if by_name:
        found = registry.find(by_name)
        if found is None:
            problems.append(Problem(f"{ENV_TARGET} names unknown target {by_name!r}",
                                    f"unset {ENV_TARGET}, or eventsync sync targets add {by_name}"
                                    " --type TYPE --url URL"))
        return found, "env" if found else None
    url = env.get(ENV_SERVER_URL)
    if url:
        found = _match_url(registry, url, configured, problems)
        return found, "env" if found else None
    found = registry.find(configured) if configured else None
    return found, "config" if found else None


def _match_url(registry: TargetRegistry, url: str, configured: str | None,
               problems: list[Problem]) -> Target | None:
    try:
        matches = registry.find_by_url(url)
    except EventSyncError:
        problems.append(Problem(f"{ENV_SERVER_URL} is not a valid URL", f"unset {ENV_SERVER_URL}"))
        return None
    if not matches:
        problems.append(Problem(
            f"{ENV_SERVER_URL} ({canonical_url(url)}) matches no registered target",
            f"eventsync sync targets add NAME --type TYPE --url {canonical_url(url)}"
            f" (or unset {ENV_SERVER_URL})"))
        return None
    if len(matches) > 1:
        chosen = next((t for t in matches if t.name == configured), None)
        if chosen is None:
            names = ", ".join(t.name for t in matches)
            problems.append(Problem(f"{ENV_SERVER_URL} matches several targets ({names})",
                                    f"set {ENV_TARGET} to one of them"))
        return chosen
    if configured and matches[0].name != configured:
        problems.append(Problem(
            f"{ENV_SERVER_URL} selects target {matches[0].name!r} but config.toml's active "
            f"target is {configured!r}",
            f"eventsync sync targets use {matches[0].name} (or unset {ENV_SERVER_URL})"))
    return matches[0]


def _target_problems(target: Target, config: EventSyncConfig, plugins: Any,
                     check_gate: bool) -> list[Problem]:
    problems = []
    if config.delivery not in ("auto", NONE) and config.delivery != target.type:
        problems.append(Problem(
            f"delivery mode is {config.delivery!r} but target {target.name!r} is of type "
            f"{target.type!r}", f"eventsync sync config set delivery.mode {target.type}"))
    if plugins is None:
        return problems
    try:
        cls = plugins.receiver_class(target.type)
    except EventSyncError as exc:
        fix = (f"eventsync plugins install eventsync-{target.type}"
               if target.type not in plugins.receiver_types()
               else "eventsync plugins; then eventsync plugins uninstall one of the two")
        problems.append(Problem(f"target {target.name!r}: {exc}", fix))
        return problems
    if check_gate:
        problems.extend(_gate_problems(cls, target))
    return problems


def _gate_problems(cls: Any, target: Target) -> list[Problem]:
    """Run the receiver's gate once; the receiver is closed after, as a drain closes it, so
    its connections and threads end here."""
    try:
        receiver = cls(target)
    except Exception as exc:  # a plugin's constructor bug is reported, not fatal to status
        return [Problem(f"target {target.name!r}: preflight failed: {type(exc).__name__}",
                        "report it to the plugin's author")]
    try:
        receiver.preflight()
    except ReceiverNotReady as exc:
        return [Problem(f"target {target.name!r} is not ready: {exc}",
                        "see the reason; then eventsync sync now")]
    except Exception as exc:  # a plugin's preflight bug is reported, not fatal to status
        return [Problem(f"target {target.name!r}: preflight failed: {type(exc).__name__}",
                        "report it to the plugin's author")]
    finally:
        with contextlib.suppress(Exception):
            receiver.close()
    return []


def _legacy_problems(registry: TargetRegistry, directory: Path) -> list[Problem]:
    """Legacy `queue-<digest>.db` files whose scope no registered target has any more."""
    from eventsync.queue.scope import QUEUES_DIR

    root = Path(directory)
    files = sorted([*root.glob("queue-*.db"), *(root / QUEUES_DIR).glob("queue-*.db")])
    if not files:
        return []
    known = {digest for target in registry.list() for digest in target_scope(target).digests}
    return [Problem(f"legacy queue {path.name} matches no registered target's scope",
                    f"eventsync sync migrate --cleanup {directory}")
            for path in files if path.stem.removeprefix("queue-").lower() not in known]
