"""A third party's receiver, exactly as docs/writing-a-receiver.md tells them to write it.

The tutorial's module and `[project]` table are read from the doc itself, built into a
distribution in a temp dir (with a receiver that breaks the contract on purpose beside it),
installed into the running venv with `eventsync plugins install` once for this module and
uninstalled afterwards, even when a test fails. Every check runs the real `eventsync` console
script, as the plugin's user would.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tomli_w
from support.receivers import journal_rows, ledger_details, ledger_rows, one_error, tutorial_files

from eventsync import hookspecs

# This module installs into the shared venv once and uninstalls at its end (that is what it
# tests), so `make test` keeps each file's tests on one pytest-xdist worker (--dist loadfile);
# every other test loads only this repository's plugins (the `home` fixture's allowlist).
DIST = "eventsync-jsonl"
BAD_DIST = "eventsync-misbehaving-fixture"
FIXTURES = Path(__file__).parent
Run = Callable[..., subprocess.CompletedProcess[str]]


def build_distributions(root: Path) -> list[Path]:
    """The tutorial's distribution, and one holding the misbehaving receiver; both build
    offline: only their `[build-system]` differs from what the tutorial shows."""
    files = tutorial_files()
    tutorial = tomllib.loads(files["pyproject.toml"])
    bad = {"project": {"name": BAD_DIST, "version": "0.0.1",
                       "entry-points": {"eventsync": {"misbehaving": "eventsync_misbehaving"}}},
           "tool": {"setuptools": {"py-modules": ["eventsync_misbehaving"]}}}
    sources = []
    for pyproject, module, text in (
            (tutorial, "eventsync_jsonl", files["eventsync_jsonl.py"]),
            (bad, "eventsync_misbehaving", (FIXTURES / "eventsync_misbehaving.py").read_text())):
        source = root / pyproject["project"]["name"]
        source.mkdir()
        (source / f"{module}.py").write_text(text, encoding="utf-8")
        shutil.copy(FIXTURES / "wheel_backend.py", source / "wheel_backend.py")
        pyproject["build-system"] = {"requires": [], "build-backend": "wheel_backend",
                                     "backend-path": ["."]}
        (source / "pyproject.toml").write_text(tomli_w.dumps(pyproject), encoding="utf-8")
        sources.append(source)
    (sources[0] / "test_jsonl.py").write_text(files["test_jsonl.py"], encoding="utf-8")
    return sources


def eventsync_cmd(*args: str, env: dict[str, str] | None = None,
                  input: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "eventsync"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=240,
                          env=env, input=input, check=False)


def pip_uninstall() -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "uninstall",
                    "--yes", "--quiet", DIST, BAD_DIST], capture_output=True, timeout=240,
                   check=False)


def plugins_install(*sources: Path) -> None:
    res = eventsync_cmd("plugins", "install", "--no-deps", "--no-build-isolation",
                        *map(str, sources))
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def dist_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install both distributions for this module only, with one pip run; always uninstall
    them. Yields the tutorial's source directory."""
    sources = build_distributions(tmp_path_factory.mktemp("thirdparty"))
    try:
        plugins_install(*sources)
        yield sources[0]
    finally:
        pip_uninstall()


@pytest.fixture
def run(dist_source: Path, home: Path) -> Run:
    """`eventsync ARGS` in a subprocess on the test's home, every installed plugin loaded (the
    `home` fixture's allowlist removed); extra env as keywords."""
    env = {k: v for k, v in os.environ.items() if k != "EVENTSYNC_LOAD_PLUGINS"}

    def invoke(*args: str, input: str | None = None, **extra_env: str
               ) -> subprocess.CompletedProcess[str]:
        return eventsync_cmd(*args, env={**env, **extra_env}, input=input)

    return invoke


def append(run: Run, count: int) -> list[str]:
    lines = "".join(json.dumps({"event_type": "WPStatusChanged", "aggregate_id": f"WP{i}",
                                "payload": {"i": i}}) + "\n" for i in range(count))
    res = run("events", "import", "-", "--json", input=lines)
    assert res.returncode == 0, res.stderr
    listed = run("events", "list", "--json")
    return [event["event_id"] for event in json.loads(listed.stdout)]


def test_plugins_json_lists_the_installed_receiver(run: Run) -> None:
    res = run("plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {row["name"]: row for row in json.loads(res.stdout)}
    assert rows[DIST] == {**rows[DIST], "version": "0.1.0", "builtin": False, "error": None,
                          "hooks": ["register_receivers"], "receivers": ["jsonl"]}
    assert rows[BAD_DIST]["receivers"] == ["misbehaving"]
    human = run("plugins")
    assert any(line.split()[:4] == [DIST, "0.1.0", "jsonl", "register_receivers"]
               for line in human.stdout.splitlines())


def test_targets_add_accepts_the_type_and_sync_now_delivers_through_it(run: Run,
                                                                       tmp_path: Path,
                                                                       home: Path) -> None:
    out = tmp_path / "events.jsonl"
    added = run("sync", "targets", "add", "mine", "--type", "jsonl", "--url",
                f"file://{out}", "--activate")
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"added target mine (jsonl:file://{out}), now active\n"  # file:///
    ids = append(run, 4)
    drained = run("sync", "now", "--json")
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout) == {"target": "mine", "attempted": 4, "delivered": 4,
                                          "duplicate": 0, "retrying": 0, "terminal_failed": 0,
                                          "remaining": 0, "stopped": None, "last_error": None}
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [event["event_id"] for event in written] == ids
    assert ledger_rows(home, "mine") == {i: ("success", 1, True) for i in ids}
    listed = json.loads(run("sync", "targets", "list", "--json").stdout)
    assert [(t["name"], t["type"], t["plugin"]) for t in listed] == [("mine", "jsonl", DIST)]


def test_an_unknown_type_is_refused_with_the_installed_ones(run: Run, home: Path) -> None:
    res = run("sync", "targets", "add", "mine", "--type", "jsnol", "--url",
              "file:///tmp/x.jsonl")
    assert res.returncode == 1
    error = one_error(res.stderr)
    assert "jsnol" in error and "jsonl" in error and "misbehaving" in error


def test_its_closed_gate_leaves_every_event_due(run: Run, tmp_path: Path, home: Path) -> None:
    out = tmp_path / "later" / "events.jsonl"
    run("sync", "targets", "add", "mine", "--type", "jsonl", "--url", f"file://{out}",
        "--activate")
    ids = append(run, 3)
    refused = run("sync", "now")
    assert refused.returncode == 1
    assert "does not exist" in refused.stderr and "Traceback" not in refused.stderr
    assert ledger_rows(home, "mine") == {}
    out.parent.mkdir()
    assert run("sync", "now").returncode == 0
    assert ledger_rows(home, "mine") == {i: ("success", 1, True) for i in ids}


@pytest.mark.parametrize("mode", ["raise", "none", "garbage", "bad-status"])
def test_a_receiver_that_raises_or_returns_garbage_cannot_corrupt_the_ledger(
        run: Run, home: Path, mode: str) -> None:
    # a backoff longer than any test: the second drain must find the events backing off
    # however slowly a busy machine runs the subprocesses in between (issue 15.13)
    assert run("sync", "config", "set", "retry.base_seconds", "600").returncode == 0
    run("sync", "targets", "add", "bad", "--type", "misbehaving", "--url", "https://bad.test",
        "--option", f"mode={mode}", "--option", "api_token=hunter2-secret", "--activate")
    ids = append(run, 4)
    before = journal_rows(home)
    res = run("sync", "now", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["retrying"] == 4
    assert ledger_rows(home, "bad") == {i: ("failed_transient", 1, False) for i in ids}
    assert journal_rows(home) == before
    assert not any("hunter2-secret" in d for d in ledger_details(home))
    again = run("sync", "now", "--json")
    assert json.loads(again.stdout)["attempted"] == 0  # backing off, not re-posted at once
    assert ledger_rows(home, "bad") == {i: ("failed_transient", 1, False) for i in ids}


def test_results_for_unsent_events_duplicates_and_objects_are_ignored(run: Run,
                                                                      home: Path) -> None:
    run("sync", "targets", "add", "bad", "--type", "misbehaving", "--url", "https://bad.test",
        "--option", "mode=mixed", "--activate")
    ids = append(run, 4)
    before = journal_rows(home)
    res = run("sync", "now", "--json")
    assert res.returncode == 0, res.stderr
    assert ledger_rows(home, "bad") == {
        ids[0]: ("success", 1, True),  # the first of its two results counts
        ids[1]: ("failed_transient", 1, False),  # no result for it
        ids[2]: ("success", 1, True),
        ids[3]: ("failed_transient", 1, False),
    }
    assert journal_rows(home) == before
    summary = json.loads(res.stdout)
    assert (summary["attempted"], summary["delivered"], summary["retrying"]) == (4, 2, 2)


def test_the_tutorial_test_file_passes(dist_source: Path, tmp_path: Path) -> None:
    work = tmp_path / "author"
    work.mkdir()
    shutil.copy(dist_source / "test_jsonl.py", work / "test_jsonl.py")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_jsonl.py"], cwd=work, capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 passed" in res.stdout


def test_uninstall_removes_it_and_its_targets_say_what_is_missing(run: Run, dist_source: Path,
                                                                  tmp_path: Path,
                                                                  home: Path) -> None:
    run("sync", "targets", "add", "mine", "--type", "jsonl", "--url",
        f"file://{tmp_path}/events.jsonl", "--activate")
    append(run, 2)
    try:
        removed = run("plugins", "uninstall", DIST)
        assert removed.returncode == 0, removed.stderr
        names = [row["name"] for row in json.loads(run("plugins", "--json").stdout)]
        assert DIST not in names
        drained = run("sync", "now")
        assert drained.returncode != 0
        assert "no receiver plugin provides type 'jsonl'" in drained.stderr
        assert ledger_rows(home, "mine") == {}
    finally:
        plugins_install(dist_source)
    assert run("sync", "now").returncode == 0


def test_every_hook_is_documented_with_its_signature() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "writing-a-receiver.md").read_text(
        encoding="utf-8")
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("register_"):
            params = ", ".join(inspect.signature(function).parameters)
            assert f"`{name}({params})`" in doc, name
