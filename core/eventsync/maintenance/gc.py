"""`sync gc`: a retention policy picks events, protection vetoes, tombstones keep the history.

A policy plugin only *selects*; the core decides what may really go. An event not yet delivered
(terminal success) to every registered target is protected unless the operator forces it, so a
policy bug or a hasty `--older-than` can never silently drop something a target still needs.
Deleting keeps the journal row and every ledger row: only the payload goes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from eventsync.delivery.ledger import Ledger
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import ConfigError, PluginError
from eventsync.journal.journal import Journal
from eventsync.journal.lifecycle import JournalLifecycle, RetainedEvent
from eventsync.plugins import Plugins
from eventsync.store import Store

DEFAULT_POLICY = "keep-all"
BURY_SLICE = 5_000
POLICY_OPTIONS = ("older_than", "max_events")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `45s`, `2w` -> a timedelta; anything else is a ConfigError."""
    match = _DURATION_RE.match(text or "")
    if match is None:
        raise ConfigError(
            f"invalid duration {text!r}: use a whole number and a unit s, m, h, d or w "
            "(e.g. 30d, 12h, 90m)"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@dataclass
class RetentionContext:
    """What a retention policy's `select(context)` is given.

    `events()` streams live events oldest first; delivery facts are loaded only if a policy
    (or the protection check) asks for them.
    """

    now_ms: int
    older_than: timedelta | None
    max_events: int | None
    targets: tuple[str, ...]
    _lifecycle: JournalLifecycle
    _ledger: Ledger
    _target_ids: dict[str, int]
    _delivered: dict[str, set[int]] | None = field(default=None, repr=False)

    @property
    def cutoff_ms(self) -> int | None:
        """Epoch ms before which an event counts as older than `older_than`."""
        if self.older_than is None:
            return None
        return self.now_ms - int(self.older_than.total_seconds() * 1000)

    def events(self) -> Iterator[RetainedEvent]:
        return self._lifecycle.entries()

    def live_count(self) -> int:
        return self._lifecycle.live_count()

    def delivered_to(self, seq: int) -> frozenset[str]:
        """Names of the registered targets that have this event (terminal success)."""
        delivered = self._delivered_sets()
        return frozenset(name for name, seqs in delivered.items() if seq in seqs)

    def delivered_everywhere(self, seq: int) -> bool:
        """Terminal success on every registered target (vacuously true with none registered)."""
        return all(seq in seqs for seqs in self._delivered_sets().values())

    def _delivered_sets(self) -> dict[str, set[int]]:
        if self._delivered is None:
            self._delivered = {name: self._ledger.delivered_seqs(target_id)
                               for name, target_id in self._target_ids.items()}
        return self._delivered


@dataclass(frozen=True)
class GcPlan:
    """What a policy selected and what protection let through."""

    policy: str
    selected: list[int]
    deletable: list[int]
    protected: int
    deletable_bytes: int


@dataclass(frozen=True)
class GcReport:
    policy: str
    dry_run: bool
    forced: bool
    selected: int
    protected: int
    deleted: int
    bytes_freed: int

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "dry_run": self.dry_run, "forced": self.forced,
                "selected": self.selected, "protected": self.protected,
                "deleted": self.deleted, "bytes_freed": self.bytes_freed}


def build_context(store: Store, *, older_than: timedelta | None = None,
                  max_events: int | None = None, now_ms: int | None = None) -> RetentionContext:
    targets = TargetRegistry(store).list()
    ids = {t.name: t.id for t in targets if t.id is not None}
    return RetentionContext(
        now_ms=time.time_ns() // 1_000_000 if now_ms is None else now_ms,
        older_than=older_than, max_events=max_events, targets=tuple(sorted(ids)),
        _lifecycle=JournalLifecycle(store), _ledger=Ledger(store), _target_ids=ids,
    )


def load_policy(plugins: Plugins, name: str, options: dict[str, Any]) -> Any:
    """Instantiate the named policy, refusing options it does not read (they would be ignored)."""
    cls = plugins.retention_policy(name)
    accepted = tuple(getattr(cls, "options", ()))
    for option, value in options.items():
        if value is not None and option not in accepted:
            flag = "--" + option.replace("_", "-")
            raise ConfigError(f"retention policy {name!r} does not use {flag}")
    policy = cls()
    if not callable(getattr(policy, "select", None)):
        raise PluginError(f"retention policy {name!r} has no select(context) method")
    return policy


def plan_gc(store: Store, plugins: Plugins, policy_name: str, *, older_than: timedelta | None
            = None, max_events: int | None = None, force: bool = False) -> GcPlan:
    """Ask the policy, then keep back what some registered target has not had yet."""
    policy = load_policy(plugins, policy_name,
                         {"older_than": older_than, "max_events": max_events})
    context = build_context(store, older_than=older_than, max_events=max_events)
    live = {e.seq: e.body_bytes for e in context.events()}
    selected = sorted({int(seq) for seq in policy.select(context)} & live.keys())
    deletable = selected if force else [s for s in selected if context.delivered_everywhere(s)]
    return GcPlan(policy_name, selected, deletable, len(selected) - len(deletable),
                  sum(live[s] for s in deletable))


def run_gc(store: Store, plugins: Plugins, policy_name: str, *, older_than: timedelta | None
           = None, max_events: int | None = None, force: bool = False,
           dry_run: bool = False, on_start: Callable[[int], None] | None = None,
           progress: Callable[[int], None] | None = None) -> GcReport:
    """Plan, then (unless a dry run) turn the deletable events into tombstones.

    Burial goes in slices, each its own transaction, so `progress` can follow a large gc; an
    interrupted one has buried whole slices only, and the next run finishes the rest.
    """
    plan = plan_gc(store, plugins, policy_name, older_than=older_than, max_events=max_events,
                   force=force)
    deleted, freed = (0, 0) if dry_run else _bury(store, plan.deletable, on_start, progress)
    return GcReport(policy_name, dry_run, force, len(plan.selected), plan.protected,
                    deleted, plan.deletable_bytes if dry_run else freed)


def _bury(store: Store, seqs: list[int], on_start: Callable[[int], None] | None,
          progress: Callable[[int], None] | None) -> tuple[int, int]:
    lifecycle = JournalLifecycle(store)
    ordered = sorted(seqs)
    if on_start is not None:
        on_start(len(ordered))
    deleted = freed = 0
    for start in range(0, len(ordered), BURY_SLICE):
        chunk = ordered[start:start + BURY_SLICE]
        events, size = lifecycle.bury(chunk)
        deleted, freed = deleted + events, freed + size
        if progress is not None:
            progress(len(chunk))
    return deleted, freed


def gc_preview(store: Store, plugins: Plugins, policy_name: str = DEFAULT_POLICY, *,
               older_than: timedelta | None = None, max_events: int | None = None
               ) -> dict[str, Any]:
    """What `sync gc` with this policy would free now (for `sync status`); never raises."""
    try:
        plan = plan_gc(store, plugins, policy_name, older_than=older_than,
                       max_events=max_events)
    except Exception as exc:  # status must still render when the configured policy is broken
        return {"policy": policy_name, "events": None, "bytes": None, "protected": None,
                "error": str(exc)}
    return {"policy": policy_name, "events": len(plan.deletable),
            "bytes": plan.deletable_bytes, "protected": plan.protected, "error": None}


def journal_growth(store: Store) -> dict[str, Any]:
    """Live events and payload bytes, the file size on disk, tombstones, the oldest event's age."""
    stats = Journal(store).stats()
    oldest = stats["oldest_appended_at"]
    age = round(time.time() - oldest / 1000, 1) if oldest else None
    return {"events": stats["events"], "bytes": stats["bytes"], "disk_bytes": _disk_bytes(store),
            "tombstones": JournalLifecycle(store).tombstone_count(), "oldest_age_seconds": age}


def _disk_bytes(store: Store) -> int:
    total = 0
    for suffix in ("", "-wal"):
        path = store.path.with_name(store.path.name + suffix)
        if path.exists():
            total += path.stat().st_size
    return total
