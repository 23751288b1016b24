"""`eventsync doctor`: one PASS/FAIL line per check, each failure with its fix, exit 1 on any."""

from __future__ import annotations

import re

from cli_helpers import lines

BROKEN = """
    raise RuntimeError("broken on purpose")
"""


def test_a_working_setup_passes_every_check(cli, home, stub_server, monkeypatch):
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "eventsync-stub")
    server = stub_server()
    assert cli("sync", "targets", "add", "local", "--type", "stub", "--url", server.url,
               "--activate").code == 0
    res = cli("doctor")
    assert (res.code, res.err) == (0, "")
    out = lines(res.out)
    assert out[0] == f"PASS  home: {home} (EVENTSYNC_HOME), writable"
    assert re.fullmatch(rf"PASS  database: {re.escape(str(home))}/eventsync.db \(\d+ bytes, "
                        r"integrity ok(, no journal yet)?\)", out[1])
    assert out[2] == "PASS  plugins: 1 installed, none failing (receiver types: stub)"
    assert out[3] == f"PASS  active target: local [stub] {server.url} (from config)"
    assert out[4] == "PASS  gate: local's receiver is ready to post"
    host_port = server.url.removeprefix("http://")
    assert out[5] == f"PASS  reachable: {host_port} accepts connections"
    assert out[6] == "doctor: 6 passed, 0 failed"


def test_no_active_target_fails_with_the_fix(cli):
    res = cli("doctor")
    assert res.code == 1
    assert lines(res.out)[-2:] == [
        "FAIL  active target: no active target is set (fix: eventsync sync targets add NAME "
        "--type TYPE --url URL --activate)",
        "doctor: 3 passed, 1 failed",
    ]


def test_an_unreachable_target_fails_with_the_fix(cli, stub_server):
    server = stub_server()
    url = server.url
    server.stop()
    cli("sync", "targets", "add", "gone", "--type", "stub", "--url", url, "--activate")
    res = cli("doctor")
    assert res.code == 1
    assert lines(res.out)[-2] == (
        f"FAIL  reachable: {url.removeprefix('http://')}: Connection refused (fix: start the "
        "receiver, or re-add the target with the right --url)")


def test_a_broken_plugin_and_an_orphaned_target_each_fail(cli, stub_server, fake_plugin,
                                                         monkeypatch):
    cli("sync", "targets", "add", "local", "--type", "stub", "--url", stub_server().url)
    fake_plugin("eventsync_doctor_broken", BROKEN)
    monkeypatch.setenv("EVENTSYNC_LOAD_PLUGINS", "eventsync-doctor-broken")
    res = cli("doctor")
    assert res.code == 1
    fails = [line for line in lines(res.out) if line.startswith("FAIL  plugins:")]
    assert fails == [
        "FAIL  plugins: eventsync-doctor-broken: failed to load: RuntimeError: broken on purpose"
        " (fix: eventsync plugins uninstall eventsync-doctor-broken, or reinstall a fixed "
        "version)",
        "FAIL  plugins: target 'local': no receiver plugin provides type 'stub' (installed "
        "types: none) (fix: eventsync plugins install eventsync-stub, or eventsync sync targets "
        "remove local --forget-ledger)",
    ]


def test_a_damaged_database_fails_and_the_rest_still_runs(cli, home):
    home.mkdir(parents=True)
    (home / "eventsync.db").write_bytes(b"this is not a database" * 100)
    res = cli("doctor")
    assert res.code == 1
    out = lines(res.out)
    assert out[0].startswith("PASS  home:")
    assert out[1].startswith("FAIL  database: database ") and "damaged" in out[1]
    assert out[-1].startswith("doctor: 1 passed, ")
    assert "Traceback" not in res.err


def test_json_lists_every_check_with_fixed_keys(cli):
    checks = cli("doctor", "--json").json()
    assert [c["check"] for c in checks] == ["home", "database", "plugins", "active target"]
    assert all(set(c) == {"check", "ok", "detail", "fix"} for c in checks)
    assert [c["ok"] for c in checks] == [True, True, True, False]
