"""The scope rule in selection (CONTRACTS.md §2): a target with a `team` / `user` option is never
handed another team's or user's events, and a migrated event is due only for its scope."""

from __future__ import annotations

from delivery_helpers import Spine, results

from eventsync.delivery.authority import target_scope


def produce(spine: Spine, team: str | None = None, user: str | None = None, n: int = 3,
            **envelope) -> list[str]:
    producer = {"team": team, "user": user} if team or user else None
    events = spine.journal.append_many(
        {"event_type": "WPStatusChanged", "aggregate_id": f"A{i}", "payload": {"i": i},
         **({"producer": producer} if producer else {}), **envelope} for i in range(n))
    return [event.event_id for event in events]


def selected(spine: Spine, target_id: int) -> list[str]:
    return [event.event_id for event in spine.select(target_id).events]


def test_a_team_target_gets_its_team_and_unknown_team_events_only(spine: Spine) -> None:
    blue = produce(spine, team="Team-Blue")
    red = produce(spine, team="team-red")
    anyone = produce(spine)
    target = spine.target("blue", options={"team": "team-blue"})

    got = selected(spine, target.id)

    assert got == blue + anyone
    assert not set(got) & set(red)


def test_spec_kitty_team_slug_is_the_producer_team(spine: Spine) -> None:
    mine = produce(spine, team_slug="team-blue")
    theirs = produce(spine, team_slug="team-red")
    target = spine.target("blue", options={"team": "team-blue"})
    assert selected(spine, target.id) == mine
    assert theirs


def test_a_user_target_never_gets_another_users_events(spine: Spine) -> None:
    ana = produce(spine, user="ana")
    produce(spine, user="bob")
    target = spine.target("ana", options={"user": "ANA"})
    assert selected(spine, target.id) == ana


def test_a_target_without_scope_options_gets_every_unrouted_event(spine: Spine) -> None:
    every = produce(spine, team="a") + produce(spine, team="b") + produce(spine)
    target = spine.target("all")
    assert selected(spine, target.id) == every


def test_a_routed_event_is_due_only_for_the_targets_of_its_scope(spine: Spine) -> None:
    mine_target = spine.target("mine", options={"team": "t1", "user": "u1"})
    other = spine.target("other", options={"team": "t2", "user": "u1"})
    digest16, digest64 = target_scope(mine_target).digests
    short = spine.journal.ingest([{"event_type": "T", "aggregate_id": "S"}], route=digest16)
    long = spine.journal.ingest([{"event_type": "T", "aggregate_id": "L"}], route=digest64)
    unknown = spine.journal.ingest([{"event_type": "T", "aggregate_id": "U"}], route="unknown")

    assert selected(spine, mine_target.id) == [short.events[0].event_id, long.events[0].event_id]
    assert selected(spine, other.id) == []
    assert unknown.events


def test_a_target_whose_every_new_event_is_foreign_moves_past_them(spine: Spine) -> None:
    """The next selection does not scan them again: the cursor is past them."""
    produce(spine, team="red", n=50)
    target = spine.target("blue", options={"team": "blue"})
    assert selected(spine, target.id) == []
    assert spine.ledger.cursor(target.id) == spine.ledger.high_water()
    mine = produce(spine, team="blue", n=2)
    batch = spine.select(target.id)
    assert [e.event_id for e in batch.events] == mine
    spine.ledger.record(target.id, batch, results(batch, "success"))
    assert spine.ledger.counts(target.id).pending == 0


def test_pending_counts_only_what_the_target_may_get(spine: Spine) -> None:
    produce(spine, team="red", n=4)
    produce(spine, team="blue", n=2)
    blue = spine.target("blue", options={"team": "blue"})
    assert spine.ledger.counts(blue.id).pending == 2
