"""spec-kitty's rules about envelopes in its offline queue (SPEC-KITTY-COMPAT.md §2.4):
what is never queued, which events coalesce and on which key, which project an event belongs
to, why a queued event is blocked, and eventsync's own rule that an evicted teamspace-family
event is audited.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from eventsync.home import DB_NAME, resolve_home

EVICTED_TEAMSPACE = "evicted_teamspace"
# spec-kitty writes these to git instead (3.2.0+); a drop-in must not queue them either
NEVER_QUEUED = frozenset({"DecisionInputRequested", "DecisionInputAnswered"})
# spec-kitty's coalescing: the fields that make two events "the same thing", each looked up on
# the envelope and then in the payload (dotted paths), with its legacy fallback names.
SPEC_KITTY_COALESCING: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "MissionDossierArtifactIndexed": (
        ("namespace.project_uuid", ("project_uuid",)),
        ("namespace.mission_slug", ("mission_slug",)),
        ("artifact_id.path", ("relative_path", "artifact_key")),
    ),
    "MissionDossierSnapshotComputed": (
        ("namespace.project_uuid", ("project_uuid",)),
        ("namespace.mission_slug", ("mission_slug",)),
    ),
}
DEFAULT_COALESCE_TYPES = tuple(SPEC_KITTY_COALESCING)


def lookup(container: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(container, dict):
            return None
        container = container.get(part)
    return container


def on_envelope_or_payload(envelope: dict[str, Any], path: str) -> Any:
    found = lookup(envelope, path)
    return found if found is not None else lookup(envelope.get("payload") or {}, path)


def spec_kitty_coalesce_key(envelope: dict[str, Any],
                            fields: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """`event_type|value|...`: each field from the envelope, then the payload, then its
    fallbacks; a field still missing is an empty string (spec-kitty's rule, §2.4)."""
    parts = [str(envelope.get("event_type", ""))]
    for name, fallbacks in fields:
        value = on_envelope_or_payload(envelope, name)
        for fallback in fallbacks:
            if value is not None:
                break
            value = on_envelope_or_payload(envelope, fallback)
        parts.append("" if value is None else str(value))
    return "|".join(parts)


def projects_of(data: Any) -> set[str]:
    try:
        envelope = json.loads(data)
    except (TypeError, ValueError, RecursionError):
        return set()
    if not isinstance(envelope, dict):
        return set()
    payload = envelope.get("payload") if isinstance(envelope.get("payload"), dict) else {}
    producer = envelope.get("producer") if isinstance(envelope.get("producer"), dict) else {}
    found = (on_envelope_or_payload(envelope, "namespace.project_uuid"),
             envelope.get("project_uuid"), payload.get("project_uuid"), producer.get("project"))
    return {str(value) for value in found if value}


def blocked_reason(data: Any) -> str:
    with contextlib.suppress(TypeError, ValueError, RecursionError, AttributeError):
        reason = json.loads(data).get("drain_blocked_reason")
        if isinstance(reason, str) and reason:
            return reason
    return "ready"


def evicted_record(data: Any) -> dict[str, Any] | None:
    """What the audit keeps of an evicted row; None for a local-family (discardable) event."""
    try:
        envelope = json.loads(data)
    except (TypeError, ValueError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict):
        return {"event_id": None, "event_type": None}
    if envelope.get("family", "teamspace") == "local":
        return None
    return {"event_id": envelope.get("event_id"), "event_type": envelope.get("event_type")}


class EvictionAudit:
    """One audit row per evicted teamspace-family event, in the eventsync home's database
    (`audit_home`, else the default home): opened on the first eviction, then kept."""

    def __init__(self, home: Any) -> None:
        self.home = home
        self._log: Any = None
        self._store: Any = None

    def record(self, path: Path, lost: list[dict[str, Any]]) -> None:
        from eventsync.audit import AuditLog  # only this rare path opens the audit
        from eventsync.store import Store

        if self._log is None:
            self._store = Store(Path(resolve_home(self.home)) / DB_NAME)
            self._log = AuditLog(self._store)
        with self._store.transaction() as conn:
            for item in lost:
                self._log.record(EVICTED_TEAMSPACE, str(item["event_id"]),
                                 {"event_type": item["event_type"], "queue": str(path),
                                  "reason": "offline queue at capacity"}, conn=conn)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
