"""Fixtures for the Teamspace tests: the stub in Teamspace mode on loopback, a teamspace target
with its gates open, spec-kitty envelopes in the journal, and what the server received."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.spec_kitty import envelope_325
from teamspace_helpers import ACCESS, REFRESH

from eventsync_stub.teamspace import TeamspaceMode


@pytest.fixture
def saas(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine-level opt-in, as a spec-kitty user sets it."""
    monkeypatch.setenv("SPEC_KITTY_ENABLE_SAAS_SYNC", "1")


@pytest.fixture
def teamspace(stub_server) -> Callable[..., Any]:
    """An in-process stub in Teamspace mode that knows ACCESS and REFRESH; options that are
    not `TeamspaceMode` fields are the stub's faults (`fail_every`, `retry_after`, ...)."""

    def start(port: int = 0, **options: Any) -> Any:
        mode = {k: options.pop(k) for k in list(options) if k in TeamspaceMode.__dataclass_fields__}
        mode.setdefault("access_token", ACCESS)
        mode.setdefault("refresh_token", REFRESH)
        return stub_server(port=port, teamspace=TeamspaceMode(**mode), **options)

    return start


@pytest.fixture
def ts_target(cli) -> Callable[..., None]:
    """Add (and activate) a teamspace target; its token is stored unless `token` is None."""

    def add(url: str, *options: str, name: str = "ts", token: Any = ACCESS) -> None:
        res = cli("sync", "targets", "add", name, "--type", "teamspace", "--url", url,
                  *options, "--activate")
        assert res.code == 0, res.err
        if token is not None:
            text = token if isinstance(token, str) else json.dumps(token)
            assert cli("auth", "set-token", name, stdin=text).code == 0

    return add


@pytest.fixture
def put_envelopes(cli, tmp_path: Path) -> Callable[..., list[dict[str, Any]]]:
    """`events import` spec-kitty 3.2.5 envelopes; returns them as the producer gave them."""

    def put(count: int = 3, **overrides: Any) -> list[dict[str, Any]]:
        made = [envelope_325(**overrides) for _ in range(count)]
        path = tmp_path / f"envelopes-{made[0]['event_id']}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in made), encoding="utf-8")
        res = cli("events", "import", str(path))
        assert res.code == 0, res.err
        return made

    return put
