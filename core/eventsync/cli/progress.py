"""Progress bars for long jobs: drawn on stderr, only when a person is watching a terminal.

Never when stdout or stderr is piped, and never with `--json`, so scripts read clean output;
the command's one-line summary is printed either way.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click


def progress_enabled(as_json: bool = False) -> bool:
    return not as_json and sys.stdout.isatty() and sys.stderr.isatty()


class Progress:
    """`start(total)` once the size of the job is known, `update(n)` as it advances."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self._bar: Any = None

    def start(self, total: int) -> None:
        if self.enabled and total > 0 and self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()

    def update(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextlib.contextmanager
def progress(label: str, *, as_json: bool = False, enabled: bool | None = None
             ) -> Iterator[Progress]:
    """A Progress that is closed (its line finished) however the job ends."""
    bar = Progress(label, progress_enabled(as_json) if enabled is None else enabled)
    try:
        yield bar
    finally:
        bar.finish()
