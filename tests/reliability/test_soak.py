"""The chaos soak inside the suite: 20 s of producers, drainers, a flaky receiver and SIGKILLs.

`scripts/soak.py` does the work and checks the invariants itself (journal exactly once, each stub
exactly once, ledger == stubs, no traceback or "database is locked", integrity ok); this test runs
it as a real subprocess and requires its success line. 20 s is enough for the killer (one SIGKILL
every 1.5-3 s) to kill drainers at least five times; longer runs: `-m slow` (5 minutes), or the
script with `--minutes N`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"
FIGURES = re.compile(r"^soak ok: (\d+) events, (\d+) kills, (\d+) retries, (\d+) duplicates")


def run_soak(seconds: int, home: Path) -> re.Match[str]:
    done = subprocess.run([sys.executable, str(SCRIPT), "--seconds", str(seconds)],
                          capture_output=True, text=True, timeout=seconds + 240, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    match = FIGURES.match(last)
    assert match, last
    print(last)
    return match


def test_chaos_soak_loses_and_duplicates_nothing(home: Path) -> None:
    events, kills, _retries, _duplicates = map(int, run_soak(20, home).groups())
    assert events > 1000
    assert kills >= 5, "the killer must actually have killed drainers for the soak to mean much"


@pytest.mark.slow
def test_long_chaos_soak(home: Path) -> None:
    run_soak(300, home)
