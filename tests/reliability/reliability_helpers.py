"""Shared pieces of the reliability suite: hostile JSON strategies, raw looks at the database
files, and a tiny real filesystem for read-only and disk-full faults."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from eventsync.events import new_ulid

# One setting for every fuzz test here: modest, no deadline (the first example pays for imports
# and schema creation), and function-scoped fixtures reused across examples on purpose: each
# example checks the row counts before and after itself.
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
# for examples that each run several drains or whole migrations on a fresh database
HEAVY_FUZZ = settings(FUZZ, max_examples=50)
BIG_FUZZ = settings(FUZZ, max_examples=2_000)

# Any code point, lone surrogates included (hypothesis leaves them out unless asked).
ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=40)
NICE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00\n\r"), min_size=1,
                    max_size=40)
NUMBERS = st.one_of(st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
KEYS = st.one_of(TEXT, TEXT, st.integers(0, 12), st.booleans(), st.none(),
                 st.floats(allow_nan=True))


def nested(depth: int, leaf: Any = 1) -> Any:
    """`depth` levels of alternating objects and lists around `leaf`."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.tuples(inner, inner),
                            st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
PAYLOADS = st.one_of(
    st.dictionaries(KEYS, JSONISH, max_size=6),
    st.dictionaries(st.text(max_size=10), JSONISH, max_size=6),
    st.dictionaries(st.one_of(st.integers(0, 20), st.floats(0, 20)), SCALARS, min_size=2,
                    max_size=4),
    st.integers(1, 5_000).map(lambda depth: {"deep": nested(depth)}),
    st.sampled_from([250_000, 262_000, 262_144, 262_200, 400_000]).map(
        lambda size: {"blob": "x" * size}),
    JSONISH,
)
EVENT_TYPES = st.one_of(st.from_regex(r"[A-Za-z0-9_.:-]{1,128}", fullmatch=True), TEXT,
                        st.integers(), st.text(max_size=200))
EVENT_IDS = st.one_of(st.none(), st.builds(lambda _: new_ulid(), st.none()), TEXT,
                      st.from_regex(r"[0-9A-Z]{26}", fullmatch=True))
TIMESTAMPS = st.one_of(
    st.none(), TEXT, st.floats(),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", fullmatch=True),
)
PRODUCERS = st.one_of(st.none(), st.dictionaries(st.sampled_from(["user", "team", "project"]),
                                                 st.one_of(st.none(), TEXT)),
                      st.dictionaries(TEXT, TEXT, max_size=2), TEXT)


@st.composite
def event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Event mappings that are sometimes valid and often hostile in one or more fields."""
    data: dict[str, Any] = {
        "event_type": draw(EVENT_TYPES),
        "aggregate_id": draw(st.one_of(NICE_TEXT, TEXT, st.integers(), st.text(min_size=250,
                                                                                max_size=260))),
        "payload": draw(PAYLOADS),
    }
    optional = {"event_id": EVENT_IDS, "timestamp": TIMESTAMPS, "producer": PRODUCERS,
                "family": st.one_of(st.sampled_from(["teamspace", "local"]), TEXT),
                "aggregate_type": st.one_of(NICE_TEXT, TEXT)}
    for key in draw(st.sets(st.sampled_from(sorted(optional)))):
        value = draw(optional[key])
        if value is not None:
            data[key] = value
    if draw(st.integers(0, 20)) == 0:
        data[draw(TEXT)] = draw(SCALARS)
    return data


def valid_event_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Events that must be accepted: the shapes the fuzz mostly mangles, kept legal."""
    return st.fixed_dictionaries({
        "event_type": st.from_regex(r"[A-Za-z0-9_.:-]{1,20}", fullmatch=True),
        "aggregate_id": NICE_TEXT,
        "payload": st.dictionaries(st.text(max_size=8), st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60),
                      st.floats(allow_nan=False, allow_infinity=False), NICE_TEXT),
            lambda inner: st.one_of(st.lists(inner, max_size=4),
                                    st.dictionaries(st.text(max_size=8), inner, max_size=4)),
            max_leaves=12), max_size=5),
    })


def count_rows(db: Path, table: str) -> int:
    """Rows committed to `table`, read through a connection of our own (0 if absent)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is None:
            return 0
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def one_line_error(err: str) -> str:
    """The single stderr line of a failed command; fails the test on a traceback or more."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one error line, got {len(lines)}: {err[:2000]}"
    assert lines[0].startswith("eventsync: error: "), lines[0]
    return lines[0]


# -- a tiny real filesystem ------------------------------------------------------------------


def can_mount() -> bool:
    """Whether this process may mount (root with CAP_SYS_ADMIN, as in CI containers)."""
    return os.geteuid() == 0 and shutil.which("mount") is not None and _probe_mount()


_MOUNT_OK: list[bool] = []


def _probe_mount() -> bool:
    if not _MOUNT_OK:
        probe = Path(f"/tmp/eventsync-mount-probe-{os.getpid()}")
        probe.mkdir(exist_ok=True)
        ok = _run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)])
        if ok:
            _run(["umount", str(probe)])
        probe.rmdir()
        _MOUNT_OK.append(ok)
    return _MOUNT_OK[0]


def _run(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def tiny_filesystem(where: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` for the duration; unmounted (lazily) afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    if not _run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)]):
        raise RuntimeError(f"cannot mount a tmpfs at {where}")
    try:
        yield where
    finally:
        _run(["umount", "-l", str(where)])


def remount(where: Path, mode: str) -> None:
    """`ro` or `rw`: a read-only filesystem refuses writes even to root, unlike chmod."""
    if not _run(["mount", "-o", f"remount,{mode}", str(where)]):
        raise RuntimeError(f"cannot remount {where} {mode}")


def fill(directory: Path) -> Path:
    """Take every free byte of the filesystem holding `directory`; returns the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler
