"""`events import` and `events append` fed hostile input through the real CLI: a correct write, or
exactly one error line on stderr, no traceback, and not one journal row written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_helpers import ANY_CHAR, FUZZ, count_rows, event_dicts, one_line_error

from eventsync.home import DB_NAME

DEEP_LINE = b'{"event_type": "T", "aggregate_id": "A", "payload": ' + b'{"a":' * 3_000 + b"1" \
    + b"}" * 3_000 + b"}"


def dumps(data: Any) -> str:
    """JSON as a careless producer writes it (NaN, escaped surrogates); too deep for the
    stdlib encoder becomes a line nested just as deep, written by hand."""
    try:
        return json.dumps(data, ensure_ascii=True, default=repr)
    except RecursionError:
        return DEEP_LINE.decode()


def encode(data: Any) -> bytes:
    return dumps(data).encode()


RAW_LINES = st.one_of(
    st.builds(encode, event_dicts()),
    st.builds(encode, event_dicts()),
    st.text(ANY_CHAR, max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.sampled_from([
        b"", b"   ", b"\xef\xbb\xbf{}", b"[]", b"null", b"1" * 5_000, b"NaN",
        b'{"event_type": "T", "aggregate_id": "A", "payload": {"n": ' + b"9" * 5_000 + b"}}",
        b'{"event_type": "T", "aggregate_id": "A", "payload": {"x": Infinity}}',
        b"[" * 100_000 + b"]" * 100_000,
        DEEP_LINE,
    ]),
)


def rows(home: Path) -> int:
    return count_rows(home / DB_NAME, "journal")


def check_import(cli: Callable[..., Any], home: Path, path: Path, lines: list[bytes],
                 via_stdin: bool) -> None:
    body = b"\n".join(lines) + b"\n"
    before = rows(home)
    if via_stdin and _is_utf8(body):
        result = cli("events", "import", "-", "--json", stdin=body.decode("utf-8"))
    else:
        path.write_bytes(body)
        result = cli("events", "import", str(path), "--json")
    if result.code == 0:
        assert "Traceback" not in result.err
        report = result.json()
        assert set(report) == {"appended", "duplicates"}
        assert rows(home) == before + report["appended"]
        return
    assert result.code == 1, (result.code, result.err)
    line = one_line_error(result.err)
    assert "internal error" not in line
    assert rows(home) == before, line


def _is_utf8(data: bytes) -> bool:
    """The `cli` fixture hands stdin over as text; other bytes go through a file."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(lines=st.lists(RAW_LINES, min_size=1, max_size=6))
def test_import_is_a_correct_write_or_one_error_line_and_nothing_written(
        cli: Callable[..., Any], home: Path, tmp_path: Path, lines: list[bytes]) -> None:
    check_import(cli, home, tmp_path / "events.jsonl", lines, via_stdin=False)


@FUZZ
@given(good=st.lists(st.builds(lambda i: encode({"event_type": "T", "aggregate_id": f"A{i}",
                                                  "payload": {"i": i}}), st.integers()),
                     min_size=1, max_size=5),
       bad=RAW_LINES, where=st.integers(0, 5))
def test_one_bad_line_among_good_ones_writes_none_of_them(
        cli: Callable[..., Any], home: Path, tmp_path: Path, good: list[bytes], bad: bytes,
        where: int) -> None:
    check_import(cli, home, tmp_path / "events.jsonl", [*good[:where], bad, *good[where:]],
                 via_stdin=where % 2 == 0)


@FUZZ
@given(payload=st.one_of(st.text(ANY_CHAR, max_size=80),
                         st.builds(lambda d: dumps(d.get("payload")),
                                   event_dicts())))
def test_append_payload_flag_is_an_event_id_or_one_error_line(
        cli: Callable[..., Any], home: Path, payload: str) -> None:
    before = rows(home)
    result = cli("events", "append", "T", "A1", "--payload", payload)
    if result.code == 0:
        assert rows(home) == before + 1
        return
    assert "internal error" not in one_line_error(result.err)
    assert rows(home) == before


# -- regressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "says"), [
    (b"[" * 100_000 + b"]" * 100_000, "line 2: not valid JSON (nested too deeply)"),
    (b'{"event_type": "T", "aggregate_id": "A", "payload": {"n": ' + b"9" * 5_000 + b"}}",
     "line 2: not valid JSON"),
])
def test_import_of_a_line_json_cannot_hold_is_one_error_line(
        cli: Callable[..., Any], home: Path, tmp_path: Path, line: bytes, says: str) -> None:
    """Both used to escape as `internal error: RecursionError` / `ValueError` (exit 70): the
    stdlib parser raises those, not `JSONDecodeError`, for deep nesting and huge integers."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"event_type": "T", "aggregate_id": "A"}\n' + line + b"\n")
    result = cli("events", "import", str(path))
    assert result.code == 1
    assert says in one_line_error(result.err)
    assert rows(home) == 0


@pytest.mark.parametrize("payload", ["[" * 100_000 + "]" * 100_000, '{"n": ' + "9" * 5_000 + "}"])
def test_append_payload_json_cannot_hold_is_one_error_line(
        cli: Callable[..., Any], home: Path, payload: str) -> None:
    result = cli("events", "append", "T", "A1", "--payload", payload)
    assert result.code == 1
    assert "--payload" in one_line_error(result.err)
    assert rows(home) == 0

