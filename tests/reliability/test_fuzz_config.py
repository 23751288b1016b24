"""Hostile `config.toml` contents: every command that reads it either works or prints exactly one
error line (naming the file) and writes nothing; never a traceback or an internal error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st
from reliability_helpers import ANY_CHAR, HEAVY_FUZZ, count_rows, one_line_error

from eventsync.config import SETTINGS
from eventsync.home import CONFIG_NAME, DB_NAME

KNOWN_KEYS = [setting.key for setting in SETTINGS]
TOML_VALUES = st.recursive(
    st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
              st.sampled_from(["teamspace", "opt-out", "external-receiver", "none", "auto",
                               "0", "-1", "1e999", "nan", "true", "stub"]),
              st.datetimes(max_value=dt.datetime(9999, 1, 1)), st.dates()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys as TOML tables; a key that is both a value and a table keeps the value."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *tables, leaf = key.split(".")
        node = out
        for table in tables:
            node = node.setdefault(table, {})
            if not isinstance(node, dict):
                break
        else:
            node[leaf] = value
    return out


def toml_text(data: dict[str, Any]) -> str:
    return tomli_w.dumps(nest(data))


CONFIG_TEXT = st.one_of(
    st.builds(toml_text, st.dictionaries(st.sampled_from(KNOWN_KEYS), TOML_VALUES, max_size=4)),
    st.builds(toml_text, st.dictionaries(st.text(st.characters(codec="ascii", categories=["L"]),
                                                 min_size=1, max_size=6), TOML_VALUES,
                                         max_size=3)),
    st.text(ANY_CHAR, max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")
                                       .decode("utf-8", "replace")),
    st.sampled_from([
        "preset = 'nope'", "preset = [1]",
        "[sync]\nactive_target = 5", "retry.base_seconds = inf", "queue.max_size = 0",
        "preset = 'teamspace'\n[preset]\nx = 1", "\x00", "[[sync]]\nx = 1",
    ]),
)


@HEAVY_FUZZ
@given(text=CONFIG_TEXT)
def test_every_config_reader_works_or_prints_one_line(cli: Callable[..., Any], home: Path,
                                                      text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / CONFIG_NAME).write_text(text, encoding="utf-8")
    before = count_rows(home / DB_NAME, "journal")
    for args in (("sync", "config", "show", "--json"), ("sync", "status", "--json"),
                 ("events", "append", "T", "A1")):
        result = cli(*args)
        if result.code != 0:
            line = one_line_error(result.err)
            assert "internal error" not in line, line
            assert len(line) < 2_000
        else:
            assert "Traceback" not in result.err
    after = count_rows(home / DB_NAME, "journal")
    assert after == before if result.code else after in (before, before + 1)


@pytest.mark.parametrize("text", [
    "a = " + "[" * 5_000 + "]" * 5_000,
    "delivery.batch_size = " + "9" * 5_000,
    "[" + ".".join(["t"] * 3_000) + "]\nx = 1",
])
def test_config_toml_cannot_hold_is_one_error_line(cli: Callable[..., Any], home: Path,
                                                   text: str) -> None:
    """`tomllib` raises RecursionError for deep arrays and a plain ValueError for an integer of
    more than 4,300 digits, neither a TOMLDecodeError."""
    home.mkdir(parents=True, exist_ok=True)
    (home / CONFIG_NAME).write_text(text, encoding="utf-8")
    result = cli("sync", "config", "show")
    assert result.code == 1
    assert CONFIG_NAME in one_line_error(result.err)
