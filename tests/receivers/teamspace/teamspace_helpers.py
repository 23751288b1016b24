"""Plain helpers for the Teamspace tests: what the stub received, what the user sees."""

from __future__ import annotations

import gzip
import json
from typing import Any

import requests

from eventsync_stub.teamspace import DEFAULT_TEAM

ACCESS = "ts_access_5d1c9e"
REFRESH = "ts_refresh_8a7b6c"
TEAM = DEFAULT_TEAM

def posted(server: Any) -> list[dict[str, Any]]:
    """The batch POSTs the stub received, newest last."""
    return [r for r in server.app.requests if r["path"] == "/api/v1/events/batch/"]


def gets(server: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in server.app.requests if r["method"] == "GET" and r["path"] == path]


def sync_json(cli, *args: str) -> tuple[int, dict[str, Any], str]:
    res = cli("sync", "now", "--json", *args)
    return res.code, (json.loads(res.out) if res.out.strip() else {}), res.err


def status_of(cli, name: str = "ts") -> dict[str, Any]:
    return next(t for t in cli("sync", "status", "--json").json()["targets"]
                if t["name"] == name)


def decompress(body: bytes) -> dict[str, Any]:
    return json.loads(gzip.decompress(body))


def health(server: Any) -> dict[str, Any]:
    return requests.get(server.url + "/api/v1/sync/health/", timeout=10).json()
