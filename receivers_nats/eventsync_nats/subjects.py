"""The `subject` option: a template over event fields, rendered to a valid NATS subject.

Every placeholder becomes exactly one subject token: characters outside `[A-Za-z0-9_-]` (dots,
colons, spaces, wildcards, non-ASCII) turn into `_`, and a missing or empty field renders `_`.
So a template always yields a publishable subject, and its stream filter is easy to state
(`events.{event_type}` -> `events.*`). Subject matching follows NATS: `*` is one token, `>` the
rest.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import Any

import eventsync

DEFAULT_SUBJECT = "events.{event_type}"
MAX_VALUE_CHARS = 128
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_LITERAL_BAD = re.compile(r"[\s*>]|[^\x21-\x7e]")
# Fields an Event carries as attributes: read without parsing the JSON envelope.
_ATTRIBUTES = frozenset({"event_id", "event_type", "aggregate_id", "aggregate_type", "family",
                         "timestamp"})


@dataclass(frozen=True)
class SubjectTemplate:
    """A parsed template: literal text and field paths, alternating."""

    text: str
    parts: tuple[tuple[str, tuple[str, ...] | None], ...]

    @property
    def needs_envelope(self) -> bool:
        return any(path is not None and (len(path) > 1 or path[0] not in _ATTRIBUTES)
                   for _, path in self.parts)

    @property
    def filter(self) -> str:
        """The wildcard subject every rendering matches: each templated token becomes `*`."""
        return ".".join("*" if "\0" in token else token
                        for token in self._render(lambda _path: "\0").split("."))

    def render(self, event: eventsync.Event) -> str:
        if not self.needs_envelope:
            return self._render(lambda path: _token(getattr(event, path[0], "")))
        envelope = json.loads(event.to_json())
        return self._render(lambda path: _token(_lookup(envelope, path)))

    def _render(self, value: Any) -> str:
        return "".join(literal + (value(path) if path is not None else "")
                       for literal, path in self.parts)


def parse_subject(target_name: str, text: str) -> SubjectTemplate:
    """Parse and check `text`; `eventsync.TargetError` says what to fix."""
    def refuse(why: str) -> eventsync.TargetError:
        return eventsync.TargetError(f"target {target_name}: option subject={text!r} {why}")

    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise refuse(f"is not a template ({exc})") from None
    parts: list[tuple[str, tuple[str, ...] | None]] = []
    for literal, name, spec, conversion in pieces:
        if _LITERAL_BAD.search(literal):
            raise refuse("holds a space, a wildcard (* or >) or a non-ASCII character")
        if name is not None and (spec or conversion or not _FIELD.fullmatch(name)):
            raise refuse(f"has placeholder {{{name}}}: use field names like {{event_type}} "
                         "or {producer.team}")
        parts.append((literal, tuple(name.split(".")) if name is not None else None))
    template = SubjectTemplate(text, tuple(parts))
    if any(not token for token in template.filter.split(".")):
        raise refuse("has an empty token (a leading, trailing or doubled dot)")
    return template


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS matching of a concrete `subject` against a stream's (wildcard) `pattern`."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or token not in ("*", have[index]):
            return False
    return len(want) == len(have)


def subjects_overlap(pattern: str, subject: str) -> bool:
    """Whether some concrete subject matches both wildcard subjects."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if index >= len(have):
            return False
        if ">" in (token, have[index]):
            return True
        if "*" not in (token, have[index]) and token != have[index]:
            return False
    return len(want) == len(have)


def _lookup(envelope: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        envelope = envelope.get(key) if isinstance(envelope, dict) else None
    return envelope


def _token(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "_"
    return _UNSAFE.sub("_", str(value)[:MAX_VALUE_CHARS]) or "_"
