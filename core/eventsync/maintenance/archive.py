"""`sync archive`: write events and their ledger history to JSON Lines before gc removes them.

Each line is the event's stored canonical JSON with one extra key, `ledger`: the event's delivery
rows, target ids mapped to target names. The event part is spliced in as stored, so re-importing
through the `jsonl` migration source rebuilds exactly the same bytes. The file is written beside
its final name, fsynced and renamed into place: a crash never leaves a half archive under the
name an operator would trust.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from eventsync.delivery.ledger import Ledger
from eventsync.delivery.targets import TargetRegistry
from eventsync.errors import ConfigError, StorageError
from eventsync.events import canonical_json, utc_timestamp
from eventsync.home import open_private
from eventsync.journal.lifecycle import JournalLifecycle
from eventsync.maintenance.gc import parse_duration
from eventsync.store import Store

FOREVER_MS = 2**62
PROGRESS_EVERY = 1_000


@dataclass(frozen=True)
class ArchiveReport:
    path: Path
    events: int
    bytes: int
    before_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        before = None if self.before_ms is None else utc_timestamp(self.before_ms / 1000)
        return {"path": str(self.path), "events": self.events, "bytes": self.bytes,
                "before": before}


def parse_before(text: str, now_ms: int | None = None) -> int:
    """`--before`: a date (`2024-05-01`), a UTC/offset datetime, or an age like `30d`."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = text.strip()
    if value and value[-1] in "smhdw" and value[:-1].strip().isdigit():
        return now - int(parse_duration(value).total_seconds() * 1000)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"invalid --before {text!r}: use a date (2024-05-01), a datetime "
            "(2024-05-01T12:00:00Z) or an age (30d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def write_archive(store: Store, path: Path, *, before_ms: int | None = None,
                  on_start: Callable[[int], None] | None = None,
                  progress: Callable[[int], None] | None = None) -> ArchiveReport:
    """Write every live event appended before `before_ms` (all when None) to `path`.

    `on_start` gets the number of live events (an upper bound with `before_ms`), `progress`
    the count written since its last call.
    """
    if path.exists():
        raise StorageError(f"{path} already exists; choose a new archive name")
    if not path.parent.is_dir():
        raise StorageError(f"cannot write {path}: directory {path.parent} does not exist")
    temporary = path.with_name(path.name + ".tmp")
    try:
        if on_start is not None:
            on_start(JournalLifecycle(store).live_count())
        with _open(temporary) as handle:
            count = _write_lines(handle, store, FOREVER_MS if before_ms is None else before_ms,
                                 progress)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return ArchiveReport(path, count, path.stat().st_size, before_ms)


def archive_lines(store: Store, before_ms: int) -> Iterator[str]:
    """The archive's lines, oldest event first."""
    lifecycle = JournalLifecycle(store)
    ledger = Ledger(store)
    names = {t.id: t.name for t in TargetRegistry(store).list()}
    target_ids = set(names) | ledger.target_ids()
    for page in lifecycle.bodies_before(before_ms):
        histories = ledger.histories(target_ids, page[0][0], page[-1][0])
        for seq, _appended_at, body in page:
            rows = [{"target": names.get(target_id), "target_id": target_id, **row}
                      for target_id, row in histories.get(seq, [])]
            rows.sort(key=lambda row: (row["target"] or "", row["target_id"]))
            yield f'{body[:-1]},"ledger":{canonical_json(rows)}}}'


def _write_lines(handle: IO[str], store: Store, before_ms: int,
                 progress: Callable[[int], None] | None = None) -> int:
    count = 0
    for line in archive_lines(store, before_ms):
        handle.write(line)
        handle.write("\n")
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None:
        progress(count % PROGRESS_EVERY)
    return count


@contextlib.contextmanager
def _open(path: Path) -> Iterator[IO[str]]:
    """A text handle, gzip-compressed when the archive's name ends in `.gz`, fsynced on close.

    The file is created 0600 (it holds event payloads) and never through a planted symlink.
    """
    with open_private(path) as raw:
        if path.name.removesuffix(".tmp").endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, \
                    _text(zipped) as handle:
                yield handle
        else:
            with _text(raw) as handle:
                yield handle
        raw.flush()
        os.fsync(raw.fileno())


@contextlib.contextmanager
def _text(binary: IO[bytes]) -> Iterator[IO[str]]:
    handle = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
    try:
        yield handle
    finally:
        handle.flush()
        handle.detach()
