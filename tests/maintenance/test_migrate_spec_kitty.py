"""`sync migrate` of a real spec-kitty home layout (SPEC-KITTY-COMPAT.md §2.3, CONTRACTS.md §3c):
`queue.db`, `queues/queue-<16 or 64 hex>.db`, `active_queue_scope`; read-only, ids and
envelopes kept, each file's events due only for the target(s) of its scope."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import spec_kitty_events
from support.lifecycle import file_hash
from support.spec_kitty import envelope_210, envelope_325, home_scope_digest, make_queue_file

from eventsync.queue.scope import long_queue_digest

URL_A, URL_B = "https://a.example/", "https://b.example"


def spec_kitty_home(root: Path, scopes: dict[str, list[dict]], *, legacy: list[dict] = (),
                    active: str | None = None, schema: str = "S2") -> Path:
    """A `~/.spec-kitty` as spec-kitty 2.1.0-3.2.5 leaves it: scoped files under `queues/`."""
    root.mkdir(parents=True, exist_ok=True)
    for digest, envelopes in scopes.items():
        make_queue_file(root / "queues" / f"queue-{digest}.db", envelopes, schema=schema)
    if legacy:
        make_queue_file(root / "queue.db", list(legacy), schema=schema)
    if active is not None:
        (root / "active_queue_scope").write_text(active)
    return root


def by_suffix(report: dict, name: str) -> dict:
    return next(f for f in report["files"] if f["path"].endswith(name))


@pytest.mark.parametrize("schema", ["S1", "S2"])
def test_a_spec_kitty_home_migrates_read_only_with_ids_and_envelopes_kept(
        cli, home, add_target, tmp_path, schema):
    add_target("alpha", URL_A, user="ana@example.org", team="T-1")
    alpha = [envelope_210(), envelope_325()]
    sk = spec_kitty_home(tmp_path / ".spec-kitty",
                         {home_scope_digest(URL_A, "ana@example.org", "T-1"): alpha},
                         schema=schema)
    before = {p: file_hash(p) for p in sk.rglob("*.db")}

    res = cli("sync", "migrate", str(sk), "--json")

    assert res.code == 0, res.out + res.err
    report = res.json()
    [scoped] = report["files"]
    assert (scoped["target"], scoped["status"], scoped["imported"]) == ("alpha", "migrated", 2)
    assert {p: file_hash(p) for p in sk.rglob("*.db")} == before
    assert sorted(p.name for p in sk.rglob("*")) == sorted(
        ["queues", *(p.name for p in before)])  # no sidecars, nothing renamed
    listed = {e["event_id"]: e for e in json.loads(cli("events", "list", "--json").out)}
    for envelope in alpha:
        assert {k: listed[envelope["event_id"]][k] for k in envelope} == envelope
    spec_kitty_events.Event(**listed[alpha[1]["event_id"]])


def test_rerunning_is_idempotent(cli, home, add_target, tmp_path):
    add_target("alpha", URL_A, user="u", team="t")
    sk = spec_kitty_home(tmp_path / "sk", {home_scope_digest(URL_A, "u", "t"): [envelope_325()]})
    assert cli("sync", "migrate", str(sk)).code == 0
    again = cli("sync", "migrate", str(sk), "--json").json()
    assert again["imported"] == 0 and again["duplicate"] == 1


def test_64_hex_files_of_3_2_6_match_by_the_long_digest(cli, home, add_target, tmp_path):
    add_target("alpha", URL_A, user="u", team="t")
    digest = long_queue_digest(URL_A, "u", "t")
    assert digest == hashlib.sha256("\0".join([URL_A, "u", "t"]).encode()).hexdigest()
    sk = spec_kitty_home(tmp_path / "sk", {digest: [envelope_325()]})
    report = cli("sync", "migrate", str(sk), "--json").json()
    assert report["files"][0]["target"] == "alpha"


def test_queue_db_takes_the_scope_active_queue_scope_names(cli, home, add_target, tmp_path):
    add_target("alpha", URL_A, user="u", team="t")
    sk = spec_kitty_home(tmp_path / "sk", {}, legacy=[envelope_325()],
                         active="https://a.example|u|t")
    report = cli("sync", "migrate", str(sk), "--json").json()
    assert by_suffix(report, "queue.db")["target"] == "alpha"


def test_an_unmatched_file_goes_to_unknown_and_is_due_nowhere_until_attached(
        cli, home, add_target, tmp_path, stub):
    server = stub()
    add_target("alpha", server.url, user="u", team="t")
    cli("sync", "targets", "use", "alpha")
    stray = [envelope_325(), envelope_325()]
    sk = spec_kitty_home(tmp_path / "sk", {home_scope_digest("https://gone.example", "u", "t"):
                                           stray})
    res = cli("sync", "migrate", str(sk))
    assert res.code == 0, res.err
    assert "-> target unknown" in res.out and "--attach unknown --to TARGET" in res.out
    assert cli("sync", "now").code == 0
    assert server.event_ids() == []

    res = cli("sync", "migrate", "--attach", "unknown", "--to", "alpha")
    assert res.code == 0, res.err
    assert "attached 2 event(s)" in res.out
    assert cli("sync", "now").code == 0
    assert sorted(server.event_ids()) == sorted(e["event_id"] for e in stray)


def test_attach_wants_both_halves_and_only_unknown(cli, home, add_target):
    add_target("alpha", URL_A)
    assert cli("sync", "migrate", "--attach", "unknown").code != 0
    res = cli("sync", "migrate", "--attach", "abc", "--to", "alpha")
    assert res.code != 0 and "unknown" in res.err and "Traceback" not in res.err


def test_two_scopes_each_reach_only_their_own_target(cli, home, add_target, tmp_path, stub):
    """End to end over real sockets: a multi-team user's home, two stub servers."""
    blue_server, red_server = stub(), stub()
    add_target("blue", blue_server.url, user="ana@example.org", team="team-blue")
    add_target("red", red_server.url, user="ana@example.org", team="team-red")
    blue = [envelope_325(team_slug="team-blue") for _ in range(3)]
    red = [envelope_325(team_slug="team-red") for _ in range(2)]
    sk = spec_kitty_home(tmp_path / ".spec-kitty", {
        home_scope_digest(blue_server.url, "ana@example.org", "team-blue"): blue,
        home_scope_digest(red_server.url, "ana@example.org", "team-red"): red,
    })
    assert cli("sync", "migrate", str(sk)).code == 0

    assert cli("sync", "now", "--all").code == 0

    assert sorted(blue_server.event_ids()) == sorted(e["event_id"] for e in blue)
    assert sorted(red_server.event_ids()) == sorted(e["event_id"] for e in red)
    posted = {e["event_id"]: e for e in blue_server.events()}
    for envelope in blue:
        assert {k: posted[envelope["event_id"]][k] for k in envelope} == envelope
