"""`stub serve --teamspace`: answering as the Teamspace server does (SPEC-KITTY-COMPAT §3-§4).

So that the test suite and `make demo` run the real protocol over a real socket, this mode adds:
- `GET /api/v1/me`: the user and their teams, the Private Teamspace listed second (a client
  that takes `teams[0]` gets it wrong);
- `POST /oauth/token`: `grant_type=refresh_token`, `client_id=cli_native`; refresh tokens rotate
  (a used one is spent), an unknown one is `invalid_grant`; `refresh_replays` answers that many
  refreshes 409 `refresh_replay_benign_retry` with `retry_after` first (the token not spent);
- the health answer advertises `sync_ingress.limits`, and batches over them get 413
  `sync_batch_too_large`;
- every batch must carry a live bearer token (else 401), `X-Spec-Kitty-Sync-Protocol` of the
  stub's protocol (else 412 with `upgrade_guidance`) and `X-Team-Slug` naming the Private
  Teamspace (else 403 `direct_ingress_missing_private_team`);
- scripted per-event words (`accepted`, `warning`, `queued`, categories) and 400s with and
  without `details`.
Kept free of sockets, like `batches.py`: every answer is a plain `Reply`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from eventsync_stub.batches import Reply

PROTOCOL_HEADER = "X-Spec-Kitty-Sync-Protocol"
TEAM_HEADER = "X-Team-Slug"
CLIENT_ID = "cli_native"
MISSING_TEAM = "direct_ingress_missing_private_team"
DEFAULT_TEAM = "team-private-7f3a"


@dataclass(frozen=True)
class TeamspaceMode:
    """What the Teamspace stand-in enforces and answers. Tokens are secrets: no repr."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_ttl: int = 3600
    private_team: str | None = DEFAULT_TEAM
    protocol: str = "2.0"
    max_events_per_batch: int = 1000
    max_decompressed_bytes: int = 1024 * 1024
    enforced_bytes: int | None = None  # smaller than advertised: a server whose limit shrank
    status_for: tuple[tuple[str, str], ...] = ()
    refuse_types: tuple[tuple[str, str], ...] = ()
    invalid_types: frozenset[str] = frozenset()
    poison_types: frozenset[str] = frozenset()
    missing_private_team: bool = False
    refresh_replays: int = 0
    replay_retry_after: int = 1


def fingerprint(token: str) -> str:
    """How requests records a bearer token: enough to tell tokens apart, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TeamspaceRules:
    """Token book-keeping and the Teamspace-only answers, shared by the handler threads."""

    def __init__(self, mode: TeamspaceMode) -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        if mode.access_token:
            self._access[mode.access_token] = float("inf")
        if mode.refresh_token:
            self._refresh.add(mode.refresh_token)
        self.token_requests = 0
        self._replays = mode.refresh_replays
        # event type -> its scripted answer, the first rule for a type winning (refusals first)
        self._scripted: dict[Any, dict[str, Any]] = {}
        for name, category in mode.refuse_types:
            self._scripted.setdefault(name, {"status": "rejected", "error_category": category,
                                             "error_message": f"refused: {category}"})
        for name, word in mode.status_for:
            self._scripted.setdefault(name, {"status": word,
                                             "error_message": f"the server answered {word}"})

    def health_extra(self) -> dict[str, Any]:
        mode = self.mode
        return {"sync_ingress": {"limits": {
            "max_events_per_batch": mode.max_events_per_batch,
            "max_decompressed_bytes_per_batch": mode.max_decompressed_bytes,
            "retry_after_min_seconds": 1, "retry_after_max_seconds": 60}}}

    def me(self, headers: Mapping[str, str]) -> Reply:
        refused = self._token_gate(headers)
        if refused is not None:
            return refused
        teams = [{"id": "team-shared-01", "name": "Shared", "role": "member",
                  "is_private_teamspace": False, "slug": "shared"}]
        if self.mode.private_team:
            teams.append({"id": self.mode.private_team, "name": "Private Teamspace",
                          "role": "owner", "is_private_teamspace": True,
                          "slug": f"private-{self.mode.private_team}"})
        return Reply(200, {"user_id": "user-0001", "email": "dev@example.com",
                           "name": "Stub User", "teams": teams})

    def token(self, raw: bytes) -> Reply:
        """`POST /oauth/token` with a form body: refresh, rotating the refresh token."""
        with self._lock:
            self.token_requests += 1
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        if form.get("client_id") != CLIENT_ID:
            return Reply(401, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type"})
        offered = form.get("refresh_token", "")
        with self._lock:
            if self._replays > 0 and offered in self._refresh:
                self._replays -= 1
                return Reply(409, {"error": "refresh_replay_benign_retry",
                                   "error_description": "this refresh token was just used; "
                                                        "retry shortly",
                                   "retry_after": self.mode.replay_retry_after})
            if offered not in self._refresh:
                return Reply(400, {"error": "invalid_grant",
                                   "error_description": "the refresh token is invalid, "
                                                        "expired or already used"})
            self._refresh.discard(offered)
            access, rotated = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            self._access[access] = time.time() + self.mode.token_ttl
            self._refresh.add(rotated)
        return Reply(200, {"access_token": access, "refresh_token": rotated,
                           "token_type": "Bearer", "expires_in": self.mode.token_ttl,
                           "refresh_token_expires_in": 30 * 86400})

    def batch_gate(self, headers: Mapping[str, str]) -> Reply | None:
        """Token, protocol, then team scope, as the server checks them."""
        refused = self._token_gate(headers)
        if refused is not None:
            return refused
        refused = self._protocol_gate(headers.get(PROTOCOL_HEADER))
        if refused is not None:
            return refused
        team = (headers.get(TEAM_HEADER) or "").strip()
        if self.mode.missing_private_team or not team or team != self.mode.private_team:
            return Reply(403, {"error": MISSING_TEAM, "error_code": MISSING_TEAM,
                               "error_description": "direct ingress needs the user's Private "
                                                    "Teamspace id in X-Team-Slug"})
        return None

    def limits_refusal(self, decoded_bytes: int, count: int) -> Reply | None:
        mode = self.mode
        limit = mode.enforced_bytes or mode.max_decompressed_bytes
        if decoded_bytes > limit or count > mode.max_events_per_batch:
            return Reply(413, {"error": "sync_batch_too_large",
                               "message": f"{count} events, {decoded_bytes} bytes: over the "
                                          f"advertised limits"})
        return None

    def bad_request(self, events: list[Any]) -> Reply | None:
        """A 400 naming the invalid events, or one naming none when a poison event is in."""
        mode = self.mode
        if not (mode.poison_types or mode.invalid_types):
            return None
        types = [e.get("event_type") if isinstance(e, dict) else None for e in events]
        if any(t in mode.poison_types for t in types):
            return Reply(400, {"error": "the batch could not be processed"})
        details = [{"event_id": e.get("event_id"), "detail": f"event type {t} is not valid here"}
                   for e, t in zip(events, types, strict=True) if t in mode.invalid_types]
        if details:
            return Reply(400, {"error": "validation failed", "details": details})
        return None

    def word_for(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """A scripted per-event answer other than plain success, if any."""
        event_type = event.get("event_type")
        if not (self._scripted and isinstance(event_type, str)):
            return None
        scripted = self._scripted.get(event_type)
        return dict(scripted) if scripted is not None else None

    def _token_gate(self, headers: Mapping[str, str]) -> Reply | None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        with self._lock:
            expiry = next((v for k, v in self._access.items()
                           if hmac.compare_digest(k.encode(), token.encode())), None)
        anyone = not self._access and not self._refresh  # a demo stub takes any bearer token
        if scheme.lower() == "bearer" and token and (anyone or (expiry or 0) > time.time()):
            return None
        return Reply(401, {"error": "invalid_token", "code": "token_invalid",
                           "error_description": "the access token is missing, invalid or "
                                                "expired"},
                     (("WWW-Authenticate", 'Bearer realm="teamspace-stub"'),))

    def _protocol_gate(self, sent: str | None) -> Reply | None:
        want = self.mode.protocol
        if sent == want:
            return None
        mine, theirs = _version(want), _version(sent)
        code = ("client-protocol-unparseable" if theirs is None
                else "client-too-old" if mine is not None and theirs < mine else "client-too-new")
        return Reply(412, {
            "error_code": code,
            "error_description": f"this server speaks sync protocol {want}, not {sent!s:.20}",
            "sync_protocol": {"server": want,
                              "upgrade_guidance": f"Upgrade the client to one that speaks sync "
                                                  f"protocol {want}."}})


def _version(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in (text or "").strip().split("."))
    except ValueError:
        return None
