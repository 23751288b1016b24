"""The `teamspace` receiver: the Teamspace batch API as spec-kitty's client speaks it.

Nothing leaves the machine until every gate is open (docs/teamspace.md): SaaS sync switched on
for the machine (`SPEC_KITTY_ENABLE_SAAS_SYNC` or `EVENTSYNC_ENABLE_SAAS_SYNC`; no option can
bypass it), a token, and the user's Private Teamspace, read from `GET /api/v1/me` once per
drain. Local gates are checked by `preflight()` without any request (so `sync status` never
contacts the server); the server-side ones when the first batch is due. A closed gate raises
`ReceiverNotReady` with the fix in one line and posts nothing; the dispatcher then records
nothing, so every event stays due.

On the wire (SPEC-KITTY-COMPAT §3): gzip `{"events": [...]}` with Bearer auth,
`X-Spec-Kitty-Sync-Protocol: 2.0` and `X-Team-Slug: <Private Teamspace id>` (also on the health
GET, which runs for every host and supplies the limits; a probe that fails in any way leaves the
defaults and never blocks posting). A 401 refreshes the token once and re-posts; 403, 412 and a
refused refresh stop the drain. The token travels only in the `Authorization` header, and
`BatchClient` masks it in anything a server echoes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eventsync
from eventsync_teamspace.envelope import refusal, stored_refusals
from eventsync_teamspace.gates import saas_gate_problem
from eventsync_teamspace.options import TeamspaceOptions, auth_base, parse_options
from eventsync_teamspace.tokens import TOKEN_PATH, Tokens

PROTOCOL_HEADER = "X-Spec-Kitty-Sync-Protocol"
PROTOCOL_VERSION = "2.0"
TEAM_HEADER = "X-Team-Slug"
ME_PATH = "/api/v1/me"
HEALTH_KEYS = ("server_instance_id", "deployment_id", "environment_name", "git_sha")
TERMINAL_CATEGORIES = ("project_not_admitted", "project_not_consented", "project_refused")
MISSING_TEAM = "direct_ingress_missing_private_team"
PROBE_TIMEOUT = 10.0
MAX_EVENTS = 1000
DEFAULT_BYTES = 262_144
MAX_BYTES = 524_288


class TeamspaceReceiver(eventsync.ConfiguredReceiver[TeamspaceOptions]):
    """Posts to `{url}/api/v1/events/batch/` for the user's Private Teamspace."""

    type_name = "teamspace"
    description = "the Teamspace batch API (gated: SaaS opt-in, token, Private Teamspace)"
    options_parser = staticmethod(parse_options)

    def __init__(self, target: eventsync.Target) -> None:
        super().__init__(target)
        self._client: Any = None
        self._tokens: Tokens | None = None
        self._team: str | None = None
        self._team_problem: str | None = None
        self._health: dict[str, Any] = {}

    def preflight(self) -> None:
        """The local gates (no request), then any refusal the server already gave."""
        self._local_gates()
        self._check_server()

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        refused = {e.event_id: reason for e in events if (reason := refusal(e)) is not None}
        postable = [e for e in events if e.event_id not in refused]
        found = {e_id: eventsync.DeliveryResult(e_id, eventsync.DeliveryStatus.FAILED_PERMANENT,
                                                reason) for e_id, reason in refused.items()}
        if postable:
            found.update((r.event_id, r) for r in self._post(lambda c: c.post_batch(postable)))
        return [found[e.event_id] for e in events]

    def deliver_stored(self, batch: eventsync.StoredBatch) -> list[eventsync.DeliveryResult]:
        """The drain's call: the envelopes are checked on the stored JSON and posted as it is
        (spliced, gzipped), never decoded unless the check or the answer needs it."""
        refused = stored_refusals(batch.bodies)
        if not refused:
            return self._post(lambda client: client.post_stored(batch))
        ids = batch.event_ids
        found = {ids[i]: eventsync.DeliveryResult(ids[i], eventsync.DeliveryStatus.FAILED_PERMANENT,
                                                  reason) for i, reason in refused.items()}
        keep = [i for i in range(len(ids)) if i not in refused]
        if keep:
            part = eventsync.StoredBatch([ids[i] for i in keep], [batch.bodies[i] for i in keep])
            found.update((r.event_id, r) for r in self._post(lambda c: c.post_stored(part)))
        return [found[event_id] for event_id in ids]

    def describe(self) -> dict[str, Any]:
        """The server's deployment facts from the health probe; nothing while a gate is
        closed (the drain's first batch then reports why)."""
        try:
            self._connect()
        except eventsync.ReceiverNotReady:
            return {}
        facts = self._health
        return {key: facts[key] for key in HEALTH_KEYS
                if key in facts and isinstance(facts[key], str | None)}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- posting ----------------------------------------------------------------------------

    def _post(self, send: Callable[[Any], list[eventsync.DeliveryResult]]
              ) -> list[eventsync.DeliveryResult]:
        """`send(client)` once; after a 401, refresh the token once and send again."""
        client = self._connect()
        assert self._tokens is not None
        if self._tokens.due():
            self._tokens.refresh(client, self._token_url())
        results = send(client)
        failure = client.auth_failure
        if failure is not None and failure.status == 401 and self._tokens.can_refresh:
            self._tokens.refresh(client, self._token_url())
            results = send(client)
        self._check_server()
        return results

    def _connect(self) -> Any:
        """The client, with the Private Teamspace resolved and the limits probed: once."""
        if self._client is not None and self._team is not None:
            return self._client
        tokens = self._local_gates()
        options = self.checked_options()
        if self._client is None:
            self._client = eventsync.BatchClient(
                options.base_url + eventsync.BatchClient.BATCH_PATH,
                headers={"Authorization": f"Bearer {tokens.access}",
                         PROTOCOL_HEADER: PROTOCOL_VERSION},
                timeout=options.timeout, gzip_min_bytes=0,
                terminal_categories=TERMINAL_CATEGORIES,
                max_events=MAX_EVENTS, max_bytes=int(DEFAULT_BYTES * 0.9))
        if self._team_problem is not None:  # asked this run already: not again per batch
            raise eventsync.ReceiverNotReady(self._team_problem)
        if tokens.due():
            tokens.refresh(self._client, self._token_url())
        try:
            self._team = self._private_team(self._client, tokens)
        except eventsync.ReceiverNotReady as exc:
            self._team_problem = str(exc)
            raise
        self._client.set_header(TEAM_HEADER, self._team)
        self._probe(self._client)
        return self._client

    def _private_team(self, client: Any, tokens: Tokens) -> str:
        """The id of the first team with `is_private_teamspace` (asked twice, as spec-kitty
        does); never a fallback to another team."""
        options = self.checked_options()
        url = options.base_url + ME_PATH
        for _ in range(2):
            reply = client.call("GET", url)
            if reply.status == 401 and tokens.can_refresh:
                tokens.refresh(client, self._token_url())
                reply = client.call("GET", url)
            if reply.status == 401:
                raise eventsync.ReceiverNotReady(self._refusal_reason(401))
            if not reply.ok:
                raise eventsync.ReceiverNotReady(
                    f"cannot find your Private Teamspace: GET {ME_PATH} failed "
                    f"({reply.detail or f'HTTP {reply.status}'}); nothing is sent")
            team = _private_team_id(reply.body)
            if team is not None:
                return team
        raise eventsync.ReceiverNotReady(
            f"no Private Teamspace: {ME_PATH} lists no team with is_private_teamspace for this "
            f"user ({MISSING_TEAM}); nothing is sent. Open Teamspace once to create it, then "
            f"run `eventsync sync now --target {self.target.name}`")

    def _probe(self, client: Any) -> None:
        """Health and limits, for every host; any failure keeps the defaults."""
        options = self.checked_options()
        saved = client.total_timeout
        client.total_timeout = min(saved, PROBE_TIMEOUT)
        try:
            self._health = client.get_json(options.base_url + client.HEALTH_PATH) or {}
        finally:
            client.total_timeout = saved
        client.max_events, client.max_bytes = limits_of(self._health)

    def _token_url(self) -> str:
        options = self.checked_options()
        try:
            return auth_base(self.target, options) + TOKEN_PATH
        except eventsync.TargetError as exc:
            raise eventsync.ReceiverNotReady(str(exc)) from None

    # --- gates ------------------------------------------------------------------------------

    def _local_gates(self) -> Tokens:
        """Options, the machine-level opt-in, then a token; else a one-line reason."""
        options = self.checked_options()
        problem = saas_gate_problem()
        if problem is not None:
            raise eventsync.ReceiverNotReady(problem)
        if options.disabled:
            raise eventsync.ReceiverNotReady(
                f"target {self.target.name} is switched off (option enabled=false)")
        if self._tokens is None:
            self._tokens = Tokens(self.target, options.token_env)
        return self._tokens

    def _check_server(self) -> None:
        """The server's latest refusal, as the one line that says what to do."""
        client = self._client
        if client is None or client.refused is None:
            return
        failure = client.auth_failure
        if failure is None:
            raise client.refused  # 412: the server's upgrade guidance
        raise eventsync.ReceiverNotReady(self._refusal_reason(
            failure.status, failure.code, failure.message, failure.reason))

    def _refusal_reason(self, status: int, code: str = "", message: str = "",
                        reason: str = "") -> str:
        name = self.target.name
        if status == 401:
            assert self._tokens is not None
            return self._tokens.cannot_refresh_reason() if not self._tokens.can_refresh else (
                f"the server refused the token (HTTP 401) even after a refresh: store a new "
                f"one with `eventsync auth set-token {name}`")
        if code == MISSING_TEAM or "private teamspace" in message.lower():
            return (f"the server has no Private Teamspace {self._team} for direct ingress "
                    f"(HTTP 403 {MISSING_TEAM}): open Teamspace once to create it, then run "
                    f"`eventsync sync now --target {name}`")
        if code == "private_teamspace":
            return (f"the teamspace is private (HTTP 403 private_teamspace): ask a team admin "
                    f"to allow sync, then run `eventsync sync now --target {name}`")
        return f"{reason}: check what the token of target {name} may do"


def limits_of(health: dict[str, Any]) -> tuple[int, int]:
    """(events, uncompressed bytes) per request from `sync_ingress.limits`: events at most
    min(1000, advertised); bytes 0.9 x advertised (default 262,144), at most 524,288. Only
    positive integers count."""
    ingress = health.get("sync_ingress") if isinstance(health, dict) else None
    limits = ingress.get("limits") if isinstance(ingress, dict) else None
    limits = limits if isinstance(limits, dict) else {}
    events = _positive(limits.get("max_events_per_batch"))
    size = _positive(limits.get("max_decompressed_bytes_per_batch"))
    return (min(MAX_EVENTS, events or MAX_EVENTS),
            min(int((size or DEFAULT_BYTES) * 0.9), MAX_BYTES))


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


def _private_team_id(body: Any) -> str | None:
    teams = body.get("teams") if isinstance(body, dict) else None
    for team in teams if isinstance(teams, list) else ():
        if isinstance(team, dict) and team.get("is_private_teamspace") is True:
            team_id = team.get("id")
            if isinstance(team_id, str | int) and str(team_id).strip():
                return str(team_id).strip()
    return None
