"""What the stub answers, apart from the HTTP plumbing: the batch contract and scripted faults.

Kept free of sockets so that every answer is a plain `Reply` value; `server.py` only moves bytes.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsync_stub.storage import EventStorage

if TYPE_CHECKING:
    from eventsync_stub.teamspace import TeamspaceRules

# Bodies are read whole before answering; beyond these sizes the stub refuses instead.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_DECODED_BYTES = 256 * 1024 * 1024
REQUEST_LOG = 1000  # the newest requests kept for GET /_stub/requests
# words under which the stub stores an event (a re-post is then `duplicate`)
STORED_WORDS = frozenset({"success", "accepted", "warning", "queued", "pending"})


@dataclass(frozen=True)
class Faults:
    """Scripted misbehaviour. Request counters count batch POSTs that passed the auth checks."""

    max_event_bytes: int | None = None
    max_body_bytes: int | None = None
    reject_types: frozenset[str] = frozenset()
    fail_every: int | None = None
    drop_every: int | None = None
    latency_ms: int = 0
    reply_delay_ms: int = 0
    auth_token: str | None = field(default=None, repr=False)
    private_teamspace: bool = False
    retry_after: str = "1"


@dataclass(frozen=True)
class Identity:
    """What `GET /api/v1/sync/health/` reports; the instance id is stable for one `--db`."""

    server_instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    deployment_id: str = "eventsync-stub"
    environment_name: str = "local"
    git_sha: str | None = None


@dataclass(frozen=True)
class Reply:
    """One HTTP answer. `drop` asks the transport to cut the connection mid-body."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


class StubApp:
    """The stub's behaviour for each route, shared by every handler thread."""

    def __init__(self, storage: EventStorage, faults: Faults, identity: Identity,
                 teamspace: TeamspaceRules | None = None) -> None:
        self.storage = storage
        self.faults = faults
        self.identity = identity
        self.teamspace = teamspace
        self._lock = threading.Lock()
        self.batch_requests = 0  # every batch POST, refused or not
        self._admitted = 0  # batch POSTs past the auth gates: what the every-N faults count
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG)

    def record(self, method: str, path: str, headers: Mapping[str, str], raw: bytes = b"",
               decoded: int | None = None, events: int | None = None,
               form: dict[str, str] | None = None) -> None:
        """Keep what a request carried (a bearer or refresh token only as its fingerprint)."""
        from eventsync_stub.teamspace import fingerprint

        shown = {}
        for name, value in headers.items():
            if name.lower() == "authorization":
                scheme, _, token = value.partition(" ")
                value = f"{scheme} {fingerprint(token.strip())}" if token else scheme
            shown[name] = value
        entry = {"method": method, "path": path, "headers": shown, "body_bytes": len(raw),
                 "decoded_bytes": decoded, "events": events}
        if form is not None:
            entry["form"] = {k: fingerprint(v) if "token" in k else v for k, v in form.items()}
        self.requests.append(entry)

    def health(self) -> Reply:
        ident = self.identity
        body: dict[str, Any] = {"server_instance_id": ident.server_instance_id,
                                "deployment_id": ident.deployment_id,
                                "environment_name": ident.environment_name,
                                "git_sha": ident.git_sha}
        if self.teamspace is not None:
            body.update(self.teamspace.health_extra())
        return Reply(200, body)

    def received(self) -> Reply:
        events = self.storage.events()
        return Reply(200, {"count": len(events), "events": events,
                           "batch_requests": self.batch_requests})

    def request_log(self) -> Reply:
        return Reply(200, {"requests": list(self.requests),
                           "token_requests": getattr(self.teamspace, "token_requests", 0)})

    def batch(self, raw: bytes, headers: Mapping[str, str]) -> Reply:
        """Answer one `POST /api/v1/events/batch/` whose body has been read in full."""
        faults = self.faults
        with self._lock:
            self.batch_requests += 1
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        events, problem, decoded = _parse(raw, headers.get("Content-Encoding"))
        self.record("POST", "/api/v1/events/batch/", headers, raw, decoded,
                    None if problem else len(events))
        refused = self._gate(headers)
        if refused is not None:
            return refused
        with self._lock:
            self._admitted += 1
            number = self._admitted
        if _every(faults.fail_every, number):
            return Reply(503, {"error": f"scripted failure of batch request {number}"},
                         (("Retry-After", faults.retry_after),))
        if faults.max_body_bytes is not None and len(raw) > faults.max_body_bytes:
            return Reply(413, {"error": f"request body is {len(raw)} bytes, over the stub's "
                                        f"{faults.max_body_bytes}-byte limit"})
        if problem is not None:
            return problem
        refused = self._teamspace_refusal(decoded, events)
        if refused is not None:
            return refused
        results = self._results(events)
        if faults.reply_delay_ms:
            time.sleep(faults.reply_delay_ms / 1000)
        return Reply(200, {"results": results}, drop=_every(faults.drop_every, number))

    def _teamspace_refusal(self, decoded: int, events: list[Any]) -> Reply | None:
        rules = self.teamspace
        if rules is None:
            return None
        return rules.limits_refusal(decoded, len(events)) or rules.bad_request(events)

    def _gate(self, headers: Mapping[str, str]) -> Reply | None:
        if self.teamspace is not None:
            return self.teamspace.batch_gate(headers)
        authorization = headers.get("Authorization")
        token = self.faults.auth_token
        if token is not None and not hmac.compare_digest(
                (authorization or "").encode(), f"Bearer {token}".encode()):
            return Reply(401, {"code": "unauthorized", "error": "a valid bearer token is required"},
                         (("WWW-Authenticate", 'Bearer realm="eventsync-stub"'),))
        if self.faults.private_teamspace:
            return Reply(403, {"code": "private_teamspace",
                               "error": "this teamspace is private; sync is not allowed"})
        return None

    def _results(self, events: list[Any]) -> list[dict[str, Any]]:
        """Per-event verdicts in request order; accepted events are stored in one call."""
        verdicts: list[dict[str, Any]] = []
        accepted: list[tuple[int, dict[str, Any]]] = []
        for event in events:
            verdict = self._verdict(event)
            verdicts.append(verdict)
            if verdict["status"] in STORED_WORDS:
                accepted.append((len(verdicts) - 1, event))
        fresh = self.storage.add([event for _, event in accepted])
        for (index, _), new in zip(accepted, fresh, strict=True):
            if not new:
                verdicts[index] = {**verdicts[index], "status": "duplicate"}
        return verdicts

    def _verdict(self, event: Any) -> dict[str, Any]:
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or not event_id:
            return {"event_id": None, "status": "rejected", "error": "event has no event_id"}
        if self.storage.held(event_id):
            return {"event_id": event_id, "status": "success", "error": ""}  # -> duplicate
        scripted = self.teamspace.word_for(event) if self.teamspace is not None else None
        if scripted is not None:
            return {"event_id": event_id, **scripted}
        refusal = self._refusal(event)
        if refusal is None:
            return {"event_id": event_id, "status": "success", "error": ""}
        return {"event_id": event_id, "status": refusal[0], "error": refusal[1]}

    def _refusal(self, event: dict[str, Any]) -> tuple[str, str] | None:
        """A scripted per-event refusal; an event the stub already holds is never refused."""
        faults, event_type = self.faults, event.get("event_type")
        if isinstance(event_type, str) and event_type in faults.reject_types:
            return "rejected", f"event type {event_type} is rejected by this stub"
        if faults.max_event_bytes is not None:
            size = _canonical_size(event)
            if size > faults.max_event_bytes:
                return "failed_permanent", (f"event is {size} bytes, over the stub's "
                                            f"{faults.max_event_bytes}-byte limit")
        return None


def make_faults(*, reject_types: Iterable[str] = (), **options: Any) -> Faults:
    """`Faults` from keyword options, treating 0 as "off" for the every-N counters."""
    for name in ("fail_every", "drop_every"):
        if not options.get(name):
            options.pop(name, None)
    return Faults(reject_types=frozenset(reject_types), **options)


def _every(n: int | None, number: int) -> bool:
    return n is not None and n > 0 and number % n == 0


def _parse(raw: bytes, encoding: str | None) -> tuple[list[Any], Reply | None, int]:
    """The `events` list of a (possibly gzipped) body, or the 4xx that refuses it, and the
    decoded body's size."""
    coding = (encoding or "identity").strip().lower()
    if coding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, MAX_DECODED_BYTES)
        except zlib.error:
            return [], Reply(400, {"error": "the body is not valid gzip"}), 0
        if inflater.unconsumed_tail:
            return [], Reply(413, {"error": "the decompressed body is too large"}), len(raw)
    elif coding != "identity":
        return [], Reply(415, {"error": f"unsupported Content-Encoding {coding[:40]!r}"}), 0
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return [], Reply(400, {"error": "the body is not JSON"}), len(raw)
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return [], Reply(400, {"error": 'the body must be {"events": [...]}'}), len(raw)
    return events, None, len(raw)


def _canonical_size(event: dict[str, Any]) -> int:
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))
