"""`eventsync.ConfiguredReceiver`: options parsed once; a bad option refuses `targets add` and,
for a target stored some other way, makes every drain not ready with the same message."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import eventsync


@dataclass(frozen=True)
class Colour:
    name: str


PARSED: list[str] = []


def parse_colour(target: eventsync.Target) -> Colour:
    PARSED.append(target.name)
    colour = (target.options or {}).get("colour", "")
    if colour not in ("red", "blue"):
        raise eventsync.TargetError(f"target {target.name}: option colour={colour!r} must be "
                                    "red or blue")
    return Colour(colour)


class ColourReceiver(eventsync.ConfiguredReceiver[Colour]):
    type_name = "colour"
    options_parser = staticmethod(parse_colour)


def target(colour: str) -> eventsync.Target:
    return eventsync.Target(name="c", type="colour", url="http://127.0.0.1:9",
                            options={"colour": colour})


def test_good_options_are_parsed_once_when_the_receiver_is_made() -> None:
    PARSED.clear()
    receiver = ColourReceiver(target("red"))
    assert receiver.checked_options() == Colour("red")
    assert receiver.checked_options() is receiver.options
    assert PARSED == ["c"]
    ColourReceiver.check_target(target("blue"))


def test_a_bad_option_refuses_the_target_and_makes_the_receiver_not_ready() -> None:
    message = "target c: option colour='green' must be red or blue"
    with pytest.raises(eventsync.TargetError, match=message):
        ColourReceiver.check_target(target("green"))
    receiver = ColourReceiver(target("green"))
    with pytest.raises(eventsync.ReceiverNotReady, match=message):
        receiver.checked_options()
