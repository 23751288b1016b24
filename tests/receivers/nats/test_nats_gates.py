"""What closes the nats target's gate (one line, with the fix) and what fails one event only."""

from __future__ import annotations

import importlib.util
import json

import pytest
from nats_helpers import STREAM, add_target, import_events
from support.receivers import ledger_details


def _one_line_error(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_a_missing_stream_is_not_ready_with_the_command_that_creates_it(cli, nats_server,
                                                                         tmp_path):
    server = nats_server()
    add_target(cli, server)
    import_events(cli, tmp_path, 3)

    result = cli("sync", "now")

    assert result.code == 1
    line = _one_line_error(result)
    assert f"stream {STREAM} does not exist" in line
    assert f"nats stream add {STREAM} --subjects 'events.*' --dupe-window 360s" in line
    assert "create_stream=true" in line
    status = cli("sync", "status", "--json").json()["targets"][0]
    assert status["delivered"] == 0 and status["retrying"] == 0


def test_create_stream_makes_a_stream_whose_window_covers_the_redelivery_horizon(
        cli, nats_server, tmp_path):
    server = nats_server()
    add_target(cli, server, "js", "create_stream=true")
    import_events(cli, tmp_path, 3)

    result = cli("sync", "now", "--json")

    assert result.code == 0, result.err
    assert result.json()["delivered"] == 3
    info = server.stream_info()
    assert info.config.subjects == ["events.*"]
    assert info.config.duplicate_window >= 60 + 300
    assert server.count() == 3


def test_a_duplicate_window_shorter_than_lease_ttl_plus_backoff_cap_is_refused(
        cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream(window=120)
    add_target(cli, server)
    import_events(cli, tmp_path, 3)

    refused = cli("sync", "now")

    assert refused.code == 1
    line = _one_line_error(refused)
    assert "keeps message ids for 120s" in line
    assert "work.lease_ttl_seconds 60 + retry.max_seconds 300" in line
    assert f"nats stream edit {STREAM} --dupe-window 360s" in line
    assert server.count() == 0

    assert cli("sync", "config", "set", "retry.max_seconds", "30").code == 0
    accepted = cli("sync", "now", "--json")
    assert accepted.code == 0, accepted.err
    assert accepted.json()["delivered"] == 3


def test_a_stream_that_does_not_take_the_subjects_is_not_ready(cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream(subjects=("audit.>",))
    add_target(cli, server)
    import_events(cli, tmp_path, 2)

    result = cli("sync", "now")

    assert result.code == 1
    line = _one_line_error(result)
    assert "does not take subjects events.*" in line
    assert f"nats stream edit {STREAM} --subjects 'events.*'" in line


def test_an_event_whose_subject_no_stream_takes_stops_the_drain_with_the_fix(
        cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream(subjects=("events.WPStatusChanged",))
    add_target(cli, server)
    import_events(cli, tmp_path, 2)
    assert cli("events", "append", "Other", "WP9").code == 0

    result = cli("sync", "now")

    assert result.code == 1
    line = _one_line_error(result)
    assert "no stream takes subject events.Other" in line


def test_the_subject_template_renders_event_fields_as_single_tokens(cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream(subjects=("ev.>",))
    add_target(cli, server, "js", "subject=ev.{producer.team}.{aggregate_id}.{event_type}")
    envelope = {"event_type": "spec.kitty:Changed", "aggregate_id": "WP 01/a.b",
                "payload": {}, "producer": {"team": "core team"}}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(envelope) + "\n", encoding="utf-8")
    assert cli("events", "import", str(path)).code == 0

    assert cli("sync", "now").code == 0

    (stored,) = server.messages()
    assert stored.subject == "ev.core_team.WP_01_a_b.spec_kitty_Changed"


def test_a_wrong_or_missing_token_is_not_ready_and_the_token_is_never_shown(
        cli, nats_server, tmp_path, monkeypatch):
    secret = "s3cret-nats-token-42"
    server = nats_server(token=secret)
    server.add_stream()
    add_target(cli, server, "js", "token_env=NATS_TEST_TOKEN")
    import_events(cli, tmp_path, 3)

    unset = cli("sync", "now")
    assert unset.code == 1
    assert "$NATS_TEST_TOKEN (option token_env) is not set" in _one_line_error(unset)

    monkeypatch.setenv("NATS_TEST_TOKEN", "wrong-token-value")
    wrong = cli("sync", "now", "--json")
    assert wrong.code == 1
    line = _one_line_error(wrong)
    assert "refused the credentials (authorization violation)" in line
    assert "wrong-token-value" not in wrong.err + wrong.out

    monkeypatch.setenv("NATS_TEST_TOKEN", secret)
    right = cli("sync", "now", "--json")
    assert right.code == 0, right.err
    assert right.json()["delivered"] == 3
    listing = cli("sync", "targets", "list", "--json").out + cli("sync", "status", "--json").out
    assert secret not in listing


def test_an_event_over_the_servers_max_payload_fails_permanently_alone(cli, nats_server,
                                                                        tmp_path, home):
    server = nats_server(max_payload=4096)
    server.add_stream()
    add_target(cli, server)
    import_events(cli, tmp_path, 5)
    assert cli("events", "append", "WPStatusChanged", "WPbig", "--payload",
               json.dumps({"blob": "y" * 8000})).code == 0
    import_events(cli, tmp_path, 5, prefix="after")

    result = cli("sync", "now", "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert (report["delivered"], report["terminal_failed"]) == (10, 1)
    assert server.count() == 10
    assert any("over the server's max_payload of 4096 bytes" in (detail or "")
               for detail in ledger_details(home))


def test_a_message_over_the_streams_max_msg_size_fails_permanently(cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream(max_msg_size=2000)
    add_target(cli, server)
    import_events(cli, tmp_path, 2)
    assert cli("events", "append", "WPStatusChanged", "WPbig", "--payload",
               json.dumps({"blob": "y" * 3000})).code == 0

    report = cli("sync", "now", "--json").json()

    assert (report["delivered"], report["terminal_failed"]) == (2, 1)


def test_an_unreachable_server_stops_the_drain_as_unreachable(cli, nats_server, tmp_path):
    server = nats_server()
    server.add_stream()
    add_target(cli, server, "js", "timeout=1")
    import_events(cli, tmp_path, 5)
    server.stop()

    result = cli("sync", "now", "--batch-size", "1")

    assert result.code == 3, result.err  # stopped early, events still due: not a closed gate
    assert _one_line_error(result) == (
        f"eventsync: error: js: stopped early (target unreachable: cannot connect to "
        f"{server.url}: connection refused); 2 events remain due")
    assert "3 attempted, 0 delivered, 0 duplicate, 3 retrying" in result.out


def test_an_unreadable_creds_file_closes_the_gate_before_any_connection(cli, nats_server,
                                                                         tmp_path):
    server = nats_server()
    server.add_stream()
    missing = tmp_path / "nowhere" / "user.creds"
    add_target(cli, server, "js", f"creds={missing}")
    import_events(cli, tmp_path, 1)

    result = cli("sync", "now")

    assert result.code == 1
    assert f"creds file {missing} (option creds) cannot be read" in _one_line_error(result)
    assert server.connections() == []


def test_a_creds_file_without_the_nkeys_package_says_how_to_install_it(cli, nats_server,
                                                                        tmp_path):
    if importlib.util.find_spec("nkeys") is not None:
        pytest.skip("nkeys is installed here")
    server = nats_server()
    creds = tmp_path / "user.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n...\n", encoding="utf-8")
    add_target(cli, server, "js", f"creds={creds}")
    import_events(cli, tmp_path, 1)

    result = cli("sync", "now")

    assert result.code == 1
    assert "eventsync plugins install nkeys" in _one_line_error(result)
