"""The `teamspace` receiver: the Teamspace batch API, behind four gates.

Teamspace is a hosted service, so nothing leaves the machine until every gate is open: SaaS sync
switched on (`EVENTSYNC_ENABLE_SAAS_SYNC=1` or option `enabled=true`), a token (env variable named
by `token_env`, else `eventsync auth set-token NAME`), a `team` scope, and a server that has not
refused us. A closed gate raises `ReceiverNotReady` with the fix in one line and posts nothing;
the dispatcher then records nothing, so every event stays due.

The token is a secret: it travels only in the `Authorization` header, and `BatchClient` masks it
in anything a server echoes back.
"""

from __future__ import annotations

import os
from typing import Any

import eventsync
from eventsync_teamspace.options import TeamspaceOptions, parse_options

SAAS_ENV = "EVENTSYNC_ENABLE_SAAS_SYNC"
GZIP_MIN_BYTES = 4096
CONNECT_TIMEOUT = 5.0
HEALTH_KEYS = ("server_instance_id", "deployment_id", "environment_name", "git_sha")
PRIVATE_CODE = "private_teamspace"


class TeamspaceReceiver(eventsync.DeliveryReceiver):
    """Posts to `{url}/api/v1/events/batch/` with `Authorization: Bearer <token>`."""

    type_name = "teamspace"
    description = "the Teamspace batch API (gated: SaaS opt-in, token, team scope)"

    def __init__(self, target: eventsync.Target) -> None:
        super().__init__(target)
        self._client: Any = None
        self._problem: str | None = None
        try:
            self.options: TeamspaceOptions | None = parse_options(target)
        except eventsync.TargetError as exc:
            self.options, self._problem = None, str(exc)

    @classmethod
    def check_target(cls, target: eventsync.Target) -> None:
        """Refuse a bad URL or option when the target is added, not at its first drain."""
        parse_options(target)

    def preflight(self) -> None:
        self._token()
        self._check_server()

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        client = self._open()
        self._check_server()
        return client.post_batch(events)

    def describe(self) -> dict[str, Any]:
        """The server's deployment facts; nothing (and no request) while a gate is closed."""
        try:
            client = self._open()
        except eventsync.ReceiverNotReady:
            return {}
        assert self.options is not None
        facts = client.get_json(self.options.base_url + client.HEALTH_PATH) or {}
        return {key: facts[key] for key in HEALTH_KEYS
                if key in facts and isinstance(facts[key], str | None)}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _open(self) -> Any:
        """The one HTTP client of this receiver, made once every local gate is open (the
        gates are local settings: they are not re-read for every batch)."""
        if self._client is None:
            token = self._token()
            assert self.options is not None
            self._client = eventsync.BatchClient(
                self.options.base_url + eventsync.BatchClient.BATCH_PATH,
                headers={"Authorization": f"Bearer {token}"},
                timeout=(CONNECT_TIMEOUT, self.options.read_timeout),
                gzip_min_bytes=GZIP_MIN_BYTES,
            )
        return self._client

    def _token(self) -> str:
        """Open the local gates in order, returning the token; else a one-line reason."""
        name = self.target.name
        if self.options is None:
            raise eventsync.ReceiverNotReady(self._problem or f"target {name} is misconfigured")
        if not (self.options.enabled or eventsync.is_true(os.environ.get(SAAS_ENV))):
            raise eventsync.ReceiverNotReady(
                f"SaaS sync is off: set {SAAS_ENV}=1, or add target {name} with "
                "--option enabled=true")
        token = self._lookup_token()
        if not self.options.team:
            raise eventsync.ReceiverNotReady(
                f"no team scope: add target {name} with --option team=TEAM")
        return token

    def _lookup_token(self) -> str:
        name, variable = self.target.name, self.options.token_env if self.options else ""
        try:
            token = eventsync.target_token(self.target)
        except eventsync.EventSyncError as exc:
            raise eventsync.ReceiverNotReady(str(exc)) from None
        if token is not None:
            return token
        store_it = f"run `eventsync auth set-token {name}` (it reads the token from stdin)"
        if variable:
            raise eventsync.ReceiverNotReady(
                f"no token: ${variable} (option token_env) is not set and none is stored; "
                f"export it, or {store_it}")
        raise eventsync.ReceiverNotReady(
            f"no token: {store_it}, or add the target with --option token_env=VAR")

    def _check_server(self) -> None:
        """The last gate: the server's latest answer did not refuse us."""
        failure = getattr(self._client, "auth_failure", None)
        if failure is None:
            return
        name = self.target.name
        if failure.status == 403 and failure.code == PRIVATE_CODE:
            team = self.options.team if self.options else "?"
            raise eventsync.ReceiverNotReady(
                f"the teamspace of team {team} is private (HTTP 403 {PRIVATE_CODE}): ask a team "
                f"admin to allow sync, then run `eventsync sync now --target {name}`")
        if failure.status == 401:
            variable = self.options.token_env if self.options else ""
            fix = f"update ${variable}, or " if variable else ""
            raise eventsync.ReceiverNotReady(
                f"the server refused the token (HTTP 401): {fix}store a valid one with "
                f"`eventsync auth set-token {name}`")
        raise eventsync.ReceiverNotReady(
            f"{failure.reason}: check the team option of target {name} and what its token "
            "may do")
