"""`sync targets add --type nats` validates URL and options; `eventsync plugins` lists it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import eventsync
from eventsync.testing import make_target, sample_events
from eventsync_nats.receiver import NatsReceiver
from eventsync_nats.subjects import parse_subject, subject_matches, subjects_overlap


def _add(cli, url: str, *options: str):
    args = ["sync", "targets", "add", "js", "--type", "nats", "--url", url]
    for option in options:
        args += ["--option", option]
    return cli(*args)


def test_plugins_lists_the_nats_distribution_and_type(cli):
    rows = {row["name"]: row for row in cli("plugins", "--json").json()}
    assert rows["eventsync-nats"]["receivers"] == ["nats"]
    assert rows["eventsync-nats"]["error"] in (None, "")


def test_a_command_that_uses_no_nats_target_never_imports_nats_py_or_asyncio(home):
    """Every command loads the plugin; importing nats-py (and asyncio, for its loop thread) is
    left to a receiver that is made and connects."""
    probe = ("import sys; from eventsync.cli import run; code = run(['sync', 'targets', 'list']);"
             " print(code, sorted(m for m in sys.modules"
             " if m.split('.')[0] in ('nats', 'asyncio')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.splitlines()[-1] == "0 []", (done.stdout, done.stderr)


def test_a_valid_target_is_added_and_listed_without_secrets(cli):
    result = _add(cli, "nats://127.0.0.1:4222", "stream=EVENTS", "token_env=NATS_TOKEN",
                  "subject=ev.{event_type}", "timeout=5", "create_stream=true")
    assert result.code == 0, result.err
    (row,) = cli("sync", "targets", "list", "--json").json()
    assert (row["type"], row["url"], row["plugin"]) == ("nats", "nats://127.0.0.1:4222",
                                                        "eventsync-nats")


@pytest.mark.parametrize(("url", "options", "message"), [
    ("nats://127.0.0.1:4222", (), "option stream is required"),
    ("http://127.0.0.1:4222", ("stream=S",), "must be nats://HOST:PORT or tls://HOST:PORT"),
    ("nats://user:pw@127.0.0.1:4222", ("stream=S",), "must not hold a user or password"),
    ("nats://nats.example.com:4222", ("stream=S",), "plain nats:// would send events"),
    ("nats://127.0.0.1:4222/x", ("stream=S",), "no path or query"),
    ("nats://127.0.0.1:4222", ("stream=a.b",), "is not a stream name"),
    ("nats://127.0.0.1:4222", ("stream=S", "subject=ev.>"), "wildcard"),
    ("nats://127.0.0.1:4222", ("stream=S", "subject=ev..{event_type}"), "empty token"),
    ("nats://127.0.0.1:4222", ("stream=S", "subject=ev.{event_type!r}"), "placeholder"),
    ("nats://127.0.0.1:4222", ("stream=S", "subject=ev.{0}"), "placeholder"),
    ("nats://127.0.0.1:4222", ("stream=S", "creds=relative.creds"), "absolute path"),
    ("nats://127.0.0.1:4222", ("stream=S", "creds=/a.creds", "token_env=T"), "not both"),
    ("nats://127.0.0.1:4222", ("stream=S", "token_env=NOT-A-NAME"), "environment variable"),
    ("nats://127.0.0.1:4222", ("stream=S", "timeout=0"), "timeout"),
    ("nats://127.0.0.1:4222", ("stream=S", "create_stream=maybe"), "true or false"),
    ("nats://127.0.0.1:4222", ("stream=S", "token=abc"), "unknown option 'token'"),
])
def test_a_bad_url_or_option_is_refused_at_add_and_nothing_is_written(cli, url, options,
                                                                       message):
    result = _add(cli, url, *options)
    assert result.code != 0
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert cli("sync", "targets", "list", "--json").json() == []


def test_tls_and_an_explicitly_insecure_remote_host_are_accepted(cli):
    assert _add(cli, "tls://nats.example.com", "stream=S").code == 0
    assert cli("sync", "targets", "remove", "js").code == 0
    assert _add(cli, "nats://nats.example.com", "stream=S", "allow_insecure=true").code == 0


def test_a_template_renders_each_field_as_one_safe_token():
    template = parse_subject("t", "ev.{aggregate_id}.{producer.team}.{missing}.{event_type}")
    (event,) = sample_events(1, event_type="spec.kitty:Changed")
    assert template.render(event) == "ev.check-0._._.spec_kitty_Changed"
    assert template.filter == "ev.*.*.*.*"
    assert parse_subject("t", "events.all").filter == "events.all"


@pytest.mark.parametrize(("pattern", "subject", "matches"), [
    ("events.>", "events.A", True), ("events.>", "events", False), ("events.*", "events.A", True),
    ("events.*", "events.A.B", False), ("events.A", "events.A", True),
    ("events.A", "events.B", False), (">", "x.y", True),
])
def test_subject_matching_follows_nats_wildcards(pattern, subject, matches):
    assert subject_matches(pattern, subject) is matches


@pytest.mark.parametrize(("pattern", "subject", "overlap"), [
    ("events.>", "events.*", True), ("events.A", "events.*", True), ("audit.>", "events.*", False),
    ("events.*.x", "events.*", False), ("events.*", "events.*.*", False),
])
def test_a_stream_filter_overlaps_a_template_filter(pattern, subject, overlap):
    assert subjects_overlap(pattern, subject) is overlap


def test_bad_options_of_a_stored_target_close_the_gate_at_preflight():
    receiver = NatsReceiver(make_target("nats", "nats://127.0.0.1:1", {}))
    with pytest.raises(eventsync.ReceiverNotReady, match="option stream is required"):
        receiver.preflight()
    receiver.close()
