"""Whether an event is an envelope the Teamspace server takes (spec_kitty_events.Event 6.x).

The server validates each event with spec-kitty's model, which needs `build_id`, `node_id`,
`project_uuid`, `correlation_id` and (in 6.x) `lamport_clock` besides eventsync's own keys. An
event without them would be refused on every attempt, so it is failed_permanent here, with the
reason, and never posted. Fields are sent verbatim: nothing is added, dropped or rewritten.

A drain checks the journal's stored JSON (`stored_refusals`) instead of decoded events: decoding
every event costs more than posting it. The stored text is canonical (sorted keys, no spaces,
`ensure_ascii=False`), so a few substring searches can prove that an envelope is fine; whatever
they cannot prove is decoded and judged by `refusal`, so both paths give the same verdicts.
"""

from __future__ import annotations

import json
import re
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


def stored_refusals(bodies: list[str]) -> dict[int, str]:
    """Why the events stored as `bodies` cannot go to Teamspace, by index; only the events the
    quick proof (`_plainly_fit`) cannot clear are decoded."""
    retired = any(mark in ",".join(bodies) for mark in _RETIRED_MARKS)
    if not retired and all(map(_plainly_fit, bodies)):  # the usual batch: one pass, no decode
        return {}
    found: dict[int, str] = {}
    for index, text in enumerate(bodies):
        if _plainly_fit(text) and not (retired and any(m in text for m in _RETIRED_MARKS)):
            continue
        reason = refusal(eventsync.Event.from_json(text))
        if reason is not None:
            found[index] = reason
    return found


# In canonical JSON `,"name":` is always a key (a quote inside a string is escaped), and a key
# before the text's second `{` belongs to the top-level object. The required keys all sort before
# "payload" (an object in every event) except project_uuid, which is top-level when the only `}`
# after it is the last character.
_HEAD_TEXT = tuple(f',"{name}":"' for name in ("build_id", "correlation_id", "node_id"))
_CLOCK = ',"lamport_clock":'
_CLOCK_VALUE = re.compile(r"(?:0|[1-9][0-9]*)[,}]")  # a non-negative JSON integer
_PROJECT = ',"project_uuid":"'
# no key is written with escapes, so a retired key anywhere in the text contains one of these
_RETIRED_MARKS = ('"feature_', '"legacy_aggregate_id":', '"mission_key":', '"work_package_id":')


def _plainly_fit(text: str) -> bool:
    """True only when the canonical `text` certainly carries every required field at its top
    level with a usable value: text values that start with a character other than a quote, a
    backslash or whitespace, a non-negative integer clock. False means "decode and look"."""
    head_end = text.find("{", 1)
    if head_end < 0:
        return False
    for key in _HEAD_TEXT:
        at = text.find(key, 0, head_end)
        if at < 0 or not _plain_start(text[at + len(key)]):
            return False
    at = text.find(_CLOCK, 0, head_end)
    if at < 0 or _CLOCK_VALUE.match(text, at + len(_CLOCK)) is None:
        return False
    at = text.rfind(_PROJECT)
    return at > head_end and _plain_start(text[at + len(_PROJECT)]) and text.count("}", at) == 1


def _plain_start(char: str) -> bool:
    return char != '"' and char != "\\" and not char.isspace()


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
