"""Target URLs are validated in one place, the core transport rules (issue 15.8): the scheme is
one the receiver declares, whitespace and control characters are refused (a newline used to be
silently dropped, a space stored as given), and the refusal quotes the URL exactly as typed,
never with its password. A receiver declaring `file` takes `file:///PATH` without a host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import count_rows, one_line_error

import eventsync
from eventsync.home import DB_NAME
from eventsync.plugins import Plugins

REFUSED = [
    ("ftp://127.0.0.1/x", "'ftp://127.0.0.1/x': this receiver type takes http://, https://"),
    ("http://127.0.0.1:9/a b", "'http://127.0.0.1:9/a b': it contains whitespace"),
    ("http://127.0.0.1:9/a\nb", "'http://127.0.0.1:9/a\\nb': it contains whitespace"),
    ("http://127.0.0.1:9/a\tb", "'http://127.0.0.1:9/a\\tb': it contains whitespace"),
    (" http://127.0.0.1:9/", "' http://127.0.0.1:9/': it contains whitespace"),
    ("http://127.0.0.1:9/\x00", "'http://127.0.0.1:9/\\x00': it contains a control character"),
    ("http://127.0.0.1:9/\u200bx", "it contains a control character"),
    ("http://127.0.0.1:9/\u00a0x", "it contains whitespace"),
    ("http://u:hunter2pw@[::1", "'http://u:***@[::1': Invalid IPv6 URL"),
    ("http://u:hunter2pw@127.0.0.1:9/ x", "'http://u:***@127.0.0.1:9/ x': it contains whitespace"),
    ("http://127.0.0.1:99999/", "Port out of range"),
    ("http:///no-host", "'http:///no-host': it needs a host"),
    ("file:///tmp/events.jsonl", "this receiver type takes http://, https://"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_a_bad_url_is_refused_quoted_as_typed_and_nothing_is_written(
        cli: Callable[..., Any], home: Path, url: str, message: str) -> None:
    result = cli("sync", "targets", "add", "t", "--type", "stub", "--url", url)
    assert result.code == 1
    line = one_line_error(result.err)
    assert line.startswith("eventsync: error: invalid URL "), line
    assert message in line
    assert "hunter2pw" not in line
    assert count_rows(home / DB_NAME, "targets") == 0


class FileReceiver(eventsync.DeliveryReceiver):
    type_name = "file-sink"
    schemes = ("file",)

    def deliver(self, events: list[eventsync.Event]) -> list[eventsync.DeliveryResult]:
        return [eventsync.DeliveryResult(e.event_id, "success") for e in events]


class FilePlugin:
    @eventsync.hookimpl
    def register_receivers(self, register: Callable[[type], None]) -> None:
        register(FileReceiver)


@pytest.fixture
def file_cli(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    def plugins() -> Plugins:
        loaded = Plugins()
        loaded.register_plugin(FilePlugin(), "file-sink-plugin")
        return loaded

    monkeypatch.setattr("eventsync.cli.context.load_plugins", plugins)
    return cli


def test_a_receiver_declaring_file_takes_a_hostless_file_url(
        file_cli: Callable[..., Any], tmp_path: Path) -> None:
    url = f"file://{tmp_path}/out.jsonl"
    added = file_cli("sync", "targets", "add", "f", "--type", "file-sink", "--url", url,
                     "--activate")
    assert added.code == 0, added.err
    assert f"(file-sink:{url})" in added.out
    assert file_cli("sync", "targets", "add", "g", "--type", "file-sink", "--url",
                    f"file://localhost{tmp_path}/other.jsonl").code == 0
    assert file_cli("events", "append", "T", "A1").code == 0
    assert file_cli("sync", "now", "--json").json()["delivered"] == 1
    for bad, why in (("file://otherhost/x.jsonl", "a file URL is file:///ABSOLUTE/PATH"),
                     ("http://127.0.0.1:9/", "this receiver type takes file://")):
        refused = file_cli("sync", "targets", "add", "h", "--type", "file-sink", "--url", bad)
        assert refused.code == 1 and why in one_line_error(refused.err)
