"""`eventsync events append | import | list`, and what every error looks like."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventsync.events import is_ulid

ULID = "01HZY8J6ZC4M1V3T9Q2K7XW5RB"


def jsonl(*events: dict) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def event(n: int, **extra: object) -> dict:
    return {"event_type": "Step", "aggregate_id": f"WP{n}", "payload": {"n": n}, **extra}


def assert_one_line_error(res) -> None:
    assert res.code != 0
    assert res.err.count("\n") == 1 and "rror" in res.err, res.err
    assert "Traceback" not in res.err
    assert res.out == ""


def listed(cli) -> list[dict]:
    res = cli("events", "list", "--limit", "1000", "--json")
    assert res.code == 0, res.err
    return res.json()


# --- append ----------------------------------------------------------------------------------


def test_append_prints_the_new_event_id(cli):
    res = cli("events", "append", "WPStatusChanged", "WP01", "--payload", '{"to": "doing"}')
    assert res.code == 0, res.err
    event_id = res.out.strip()
    assert is_ulid(event_id) and res.out == event_id + "\n"
    [stored] = listed(cli)
    assert stored["event_id"] == event_id
    assert stored["payload"] == {"to": "doing"} and stored["family"] == "teamspace"


def test_append_with_every_option(cli):
    res = cli("events", "append", "A", "WP1", "--family", "local", "--aggregate-type", "WP",
              "--event-id", ULID)
    assert res.out.strip() == ULID
    [stored] = listed(cli)
    assert (stored["family"], stored["aggregate_type"], stored["payload"]) == ("local", "WP", {})


def test_append_the_same_id_and_body_again_is_a_no_op(cli):
    for _ in range(2):
        res = cli("events", "append", "A", "WP1", "--event-id", ULID)
        assert (res.code, res.out.strip()) == (0, ULID)
    assert len(listed(cli)) == 1


@pytest.mark.parametrize("args", [
    ["A", "WP1", "--payload", "{not json"],
    ["A", "WP1", "--payload", "[1, 2]"],
    ["A", "WP1", "--payload", '{"x": NaN}'],
    ["A", "WP1", "--payload", '{"x": "\\ud800"}'],
    ["bad type", "WP1"],
    ["A", "WP\n1"],
    ["A", "WP1", "--event-id", "not-a-ulid"],
], ids=["invalid-json", "not-an-object", "nan", "lone-surrogate", "bad-type", "newline-id",
        "bad-ulid"])
def test_append_bad_input_is_one_line_and_writes_nothing(cli, args):
    assert_one_line_error(cli("events", "append", *args))
    assert listed(cli) == []


def test_append_a_conflicting_id_is_one_line_and_keeps_the_first(cli):
    cli("events", "append", "A", "WP1", "--event-id", ULID)
    res = cli("events", "append", "A", "WP2", "--event-id", ULID)
    assert_one_line_error(res)
    assert ULID in res.err and "different body" in res.err
    assert [e["aggregate_id"] for e in listed(cli)] == ["WP1"]


# --- import ----------------------------------------------------------------------------------


def test_import_a_file_prints_the_count(cli, tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(*(event(n) for n in range(3))))
    res = cli("events", "import", str(path))
    assert (res.code, res.out, res.err) == (0, "3\n", "")
    assert [e["payload"]["n"] for e in listed(cli)] == [0, 1, 2]


def test_import_json_counts_appended_and_duplicates(cli, tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(event(1, event_id=ULID, timestamp="2024-05-01T10:00:00Z"), event(2)))
    assert cli("events", "import", str(path), "--json").json() == {"appended": 2, "duplicates": 0}
    again = cli("events", "import", str(path), "--json").json()
    assert again == {"appended": 0, "duplicates": 2}, "an id-less line's id comes from the input"
    assert len(listed(cli)) == 2


def test_import_from_stdin(cli):
    res = cli("events", "import", "-", "--json", stdin=jsonl(event(1), event(2)))
    assert res.code == 0, res.err
    assert res.json() == {"appended": 2, "duplicates": 0}


def test_import_skips_blank_lines_and_reads_a_file_without_final_newline(cli):
    text = "\n" + json.dumps(event(1)) + "\n   \n" + json.dumps(event(2))
    assert cli("events", "import", "-", stdin=text).out == "2\n"


def test_import_of_an_empty_file_appends_nothing(cli):
    assert cli("events", "import", "-", "--json", stdin="").json() == {
        "appended": 0, "duplicates": 0}


BAD_LINES = {
    "invalid json": "{oops",
    "not an object": "[1, 2, 3]",
    "bad event type": json.dumps({"event_type": "no spaces", "aggregate_id": "x"}),
    "nan payload": '{"event_type": "A", "aggregate_id": "x", "payload": {"v": NaN}}',
    "naive timestamp": json.dumps({"event_type": "A", "aggregate_id": "x",
                                   "timestamp": "2026-01-01T10:00:00"}),
    "lone surrogate": '{"event_type": "A", "aggregate_id": "x", "payload": {"v": "\\udc00"}}',
}


@pytest.mark.parametrize("bad", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_import_a_bad_line_reports_its_number_and_writes_nothing(cli, bad):
    lines = [json.dumps(event(n)) for n in range(1, 5)]
    lines.insert(2, "")
    lines.insert(4, bad)  # line 5 of the file, after a blank line 3
    res = cli("events", "import", "-", stdin="\n".join(lines) + "\n")
    assert_one_line_error(res)
    assert "line 5" in res.err and "nothing was written" in res.err
    assert listed(cli) == []


def test_import_a_line_conflicting_with_the_journal_writes_nothing(cli):
    cli("events", "append", "A", "WP1", "--event-id", ULID)
    text = jsonl(event(1), event(2), event(3, event_id=ULID))
    res = cli("events", "import", "-", stdin=text)
    assert_one_line_error(res)
    assert "line 3" in res.err and ULID in res.err
    assert len(listed(cli)) == 1


def test_import_two_lines_with_one_id_and_different_bodies_names_both(cli):
    text = jsonl(event(1, event_id=ULID), event(2), event(3, event_id=ULID))
    res = cli("events", "import", "-", stdin=text)
    assert_one_line_error(res)
    assert "line 3" in res.err and "line 1" in res.err
    assert listed(cli) == []


def test_import_a_file_that_is_not_utf8_names_the_line(cli, tmp_path: Path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(jsonl(event(1)).encode() + b'{"event_type": "A", "aggregate_id": "\xe9"}\n')
    res = cli("events", "import", str(path))
    assert_one_line_error(res)
    assert "line 2" in res.err and "UTF-8" in res.err
    assert listed(cli) == []


def test_import_a_missing_file_is_one_line(cli, tmp_path: Path):
    res = cli("events", "import", str(tmp_path / "missing.jsonl"))
    assert_one_line_error(res)
    assert "missing.jsonl" in res.err


def test_import_thousands_of_lines(cli):
    res = cli("events", "import", "-", "--json", stdin=jsonl(*(event(n) for n in range(2_500))))
    assert res.json() == {"appended": 2_500, "duplicates": 0}


# --- list ------------------------------------------------------------------------------------


def test_list_limit_shows_the_newest_oldest_first(cli):
    ids = [cli("events", "append", "A", f"WP{n}").out.strip() for n in range(5)]
    res = cli("events", "list", "--limit", "2", "--json")
    assert res.code == 0
    assert [e["event_id"] for e in res.json()] == ids[-2:]


def test_list_json_objects_have_exactly_the_event_keys(cli):
    cli("events", "append", "A", "WP1", "--payload", '{"k": [1, "é"]}')
    [row] = cli("events", "list", "--json").json()
    assert set(row) == {"event_id", "event_type", "aggregate_id", "aggregate_type", "payload",
                        "timestamp", "producer", "family"}
    assert row["payload"] == {"k": [1, "é"]}


def test_list_of_an_empty_journal(cli):
    assert cli("events", "list", "--json").json() == []
    res = cli("events", "list")
    assert res.code == 0 and res.out.split() == ["SEQ", "EVENT_ID", "EVENT_TYPE", "AGGREGATE_ID",
                                                 "TIMESTAMP"]


def test_list_table_for_humans(cli):
    event_id = cli("events", "append", "WPStatusChanged", "WP01").out.strip()
    lines = cli("events", "list").out.splitlines()
    assert lines[0].split()[:3] == ["SEQ", "EVENT_ID", "EVENT_TYPE"]
    assert lines[1].split()[:4] == ["1", event_id, "WPStatusChanged", "WP01"]
