"""The Teamspace access token: found, refreshed before it runs out or after a 401, and stored.

The refresh is spec-kitty's (SPEC-KITTY-COMPAT §4): `POST {auth_url}/oauth/token`, form
`grant_type=refresh_token`, `client_id=cli_native`, when 5 s or less remain or the server said
401. Refresh tokens rotate, so the new pair is written back at once, atomically and 0600, under
the credentials lock; a drain that finds another process refreshed meanwhile takes its tokens
instead of spending a refresh token twice. A refused refresh (`invalid_grant`) is a not-ready
reason telling the user how to store a new token. A 409 `refresh_replay_benign_retry` (the server
saw this refresh token a moment ago, e.g. a refresh whose answer was lost) is benign, as for
spec-kitty: the same request is sent again after the `retry_after` it names. No token ever
reaches a message.
"""

from __future__ import annotations

import math
import time
from typing import Any

import eventsync

TOKEN_PATH = "/oauth/token"
CLIENT_ID = "cli_native"
REFRESH_MARGIN_SECONDS = 5.0
REPLAY = "refresh_replay_benign_retry"
REPLAY_TRIES = 3  # requests in all, for one refresh answered 409 REPLAY
MAX_REPLAY_WAIT = 5.0  # seconds between two of them, whatever `retry_after` says
_pause = time.sleep


class Tokens:
    """The token of one teamspace target during one drain."""

    def __init__(self, target: eventsync.Target, token_env: str) -> None:
        self.target = target
        self.token_env = token_env
        self.stored, self.variable = self._load()
        self._failed: str | None = None

    @property
    def access(self) -> str:
        return self.stored.access_token

    @property
    def can_refresh(self) -> bool:
        return self.variable is None and bool(self.stored.refresh_token)

    def due(self) -> bool:
        return self.can_refresh and self.stored.expires_within(REFRESH_MARGIN_SECONDS)

    def refresh(self, client: Any, token_url: str) -> None:
        """Renew the access token (and rotate the refresh token) through `client`; a refresh
        that failed is not asked again during this drain, its reason is raised again."""
        if not self.can_refresh:
            raise eventsync.ReceiverNotReady(self.cannot_refresh_reason())
        if self._failed is not None:
            raise eventsync.ReceiverNotReady(self._failed)
        try:
            self._refresh(client, token_url)
        except eventsync.ReceiverNotReady as exc:
            self._failed = str(exc)
            raise

    def _refresh(self, client: Any, token_url: str) -> None:
        stale = self.stored
        client.add_secrets([stale.refresh_token or ""])

        def change(current: eventsync.StoredToken | None) -> eventsync.StoredToken:
            if current is not None and current != stale and \
                    not current.expires_within(REFRESH_MARGIN_SECONDS):
                return current  # another drain refreshed first: its pair is the live one
            return self._exchange(client, token_url, current or stale)

        fresh = eventsync.update_target_credentials(self.target, change)
        if fresh is None:
            raise eventsync.ReceiverNotReady(self._no_token())
        self.stored = fresh
        client.set_header("Authorization", f"Bearer {fresh.access_token}")

    def _exchange(self, client: Any, token_url: str, current: eventsync.StoredToken
                  ) -> eventsync.StoredToken:
        reply, body = _refresh_request(client, token_url, current)
        access = body.get("access_token")
        if reply.ok and isinstance(access, str) and access:
            client.add_secrets([access, str(body.get("refresh_token") or "")])
            return _rotated(current, body)
        name = self.target.name
        if reply.status == 409 and body.get("error") == REPLAY:
            raise eventsync.ReceiverNotReady(
                f"the server asked {REPLAY_TRIES} times to retry the token refresh of target "
                f"{name} ({REPLAY}): run `eventsync sync now --target {name}` again in a "
                f"minute; nothing was lost")
        if body.get("error") in ("invalid_grant", "session_invalid"):
            raise eventsync.ReceiverNotReady(
                f"the refresh token of target {name} was refused ({body['error']}): log in to "
                f"Teamspace again and store the new tokens with `eventsync auth set-token "
                f"{name}` (JSON with access_token and refresh_token)")
        raise eventsync.ReceiverNotReady(
            f"could not refresh the token of target {name} at {token_url}: "
            f"{reply.detail or 'the answer holds no access_token'}")

    def _load(self) -> tuple[eventsync.StoredToken, str | None]:
        try:
            stored, variable = eventsync.target_credentials(self.target)
        except eventsync.EventSyncError as exc:
            raise eventsync.ReceiverNotReady(str(exc)) from None
        if stored is None:
            raise eventsync.ReceiverNotReady(self._no_token())
        return stored, variable

    def _no_token(self) -> str:
        store_it = (f"run `eventsync auth set-token {self.target.name}` (it reads the token, "
                    "bare or as JSON with a refresh_token, from stdin)")
        if self.token_env:
            return (f"no token: ${self.token_env} (option token_env) is not set and none is "
                    f"stored; export it, or {store_it}")
        return f"no token: {store_it}, or add the target with --option token_env=VAR"

    def cannot_refresh_reason(self) -> str:
        name = self.target.name
        fix = f"update ${self.variable}, or " if self.variable else ""
        return (f"the server refused the token (HTTP 401) and there is no refresh token to "
                f"renew it: {fix}store a valid one with `eventsync auth set-token {name}`")


def _refresh_request(client: Any, token_url: str, current: eventsync.StoredToken
                     ) -> tuple[Any, dict[str, Any]]:
    """The refresh POST and its JSON object; a benign replay is asked again after its wait."""
    form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token,
            "client_id": CLIENT_ID}
    for attempt in range(1, REPLAY_TRIES + 1):
        reply = client.call("POST", token_url, default_headers=False, data=form)
        body = reply.body if isinstance(reply.body, dict) else {}
        if attempt == REPLAY_TRIES or not (reply.status == 409 and body.get("error") == REPLAY):
            break
        _pause(_replay_wait(body.get("retry_after"), reply.retry_after))
    return reply, body


def _replay_wait(named: Any, header: float | None) -> float:
    """The body's `retry_after` (seconds), else the Retry-After header, else 1 s; capped."""
    if isinstance(named, int | float) and not isinstance(named, bool) and math.isfinite(named):
        wait = float(named)
    else:
        wait = header if header is not None else 1.0
    return min(max(wait, 0.0), MAX_REPLAY_WAIT)


def _rotated(current: eventsync.StoredToken, body: dict[str, Any]) -> eventsync.StoredToken:
    now = time.time()
    refresh = body.get("refresh_token")
    return eventsync.StoredToken(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else current.refresh_token,
        expires_at=_after(now, body.get("expires_in"), body.get("expires_at")),
        refresh_expires_at=_after(now, body.get("refresh_token_expires_in"),
                                  body.get("refresh_token_expires_at"))
        or current.refresh_expires_at,
    )


def _after(now: float, seconds: Any, at: Any) -> float | None:
    if isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at):
        return float(at)
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and \
            math.isfinite(seconds) and seconds >= 0:
        return now + float(seconds)
    return None
