"""Fixtures for the delivery spine: a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import Spine, open_spine


@pytest.fixture
def spine(tmp_path: Path) -> Iterator[Spine]:
    opened = open_spine(tmp_path / "eventsync.db")
    yield opened
    opened.store.close()
