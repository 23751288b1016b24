"""What CLI tests share: reading output the way a user reads it."""

from __future__ import annotations


def table(text: str) -> list[list[str]]:
    """The rows of an aligned table, each split into its cells (one word per cell here)."""
    return [line.split() for line in text.splitlines()]


def lines(text: str) -> list[str]:
    return text.splitlines()
