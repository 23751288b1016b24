"""Whether an event is an envelope the Teamspace server takes (spec_kitty_events.Event 6.x).

The server validates each event with spec-kitty's model, which needs `build_id`, `node_id`,
`project_uuid`, `correlation_id` and (in 6.x) `lamport_clock` besides eventsync's own keys. An
event without them would be refused on every attempt, so it is failed_permanent here, with the
reason, and never posted. Fields are sent verbatim: nothing is added, dropped or rewritten.
"""

from __future__ import annotations

import json
from typing import Any

import eventsync

REQUIRED = ("build_id", "correlation_id", "lamport_clock", "node_id", "project_uuid")
# The legacy poster refuses these old-vocabulary keys outright.
FORBIDDEN = ("feature_number", "feature_slug", "legacy_aggregate_id", "mission_key",
             "work_package_id")


_REQUIRED_KEYS = frozenset(REQUIRED)
_FORBIDDEN_KEYS = frozenset(FORBIDDEN)


def refusal(event: eventsync.Event) -> str | None:
    """Why this event cannot go to Teamspace, or None. Runs for every event of every batch,
    so the common case (all present, nothing retired) is a few set operations."""
    fields = _fields(event)
    keys = fields.keys()
    missing = _REQUIRED_KEYS - keys
    if not missing:
        missing = {name for name in REQUIRED if _absent(name, fields[name])}
    if missing:
        return (f"not a spec-kitty envelope Teamspace accepts: missing "
                f"{', '.join(sorted(missing))}; kept in the journal, never posted")
    payload = event.payload if isinstance(event.payload, dict) else {}
    legacy = (_FORBIDDEN_KEYS & keys) or (_FORBIDDEN_KEYS & payload.keys())
    if legacy:
        return (f"uses retired field {sorted(legacy)[0]}, which Teamspace refuses; kept in the "
                "journal, never posted")
    return None


def _fields(event: eventsync.Event) -> dict[str, Any]:
    extra = getattr(event, "extra", None)
    if isinstance(extra, dict):
        return extra
    try:  # an eventsync without envelope extras: read them from the stored JSON
        data = json.loads(event.to_json())
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _absent(name: str, value: Any) -> bool:
    if name == "lamport_clock":
        return isinstance(value, bool) or not (isinstance(value, int) and value >= 0)
    return not (isinstance(value, str) and value.strip())
