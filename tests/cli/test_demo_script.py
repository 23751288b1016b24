"""`make demo`'s script: append -> drain -> re-drain to a fresh target -> status, a retry
with its reason visible, then Teamspace's protocol against `stub serve --teamspace`, all in a
temporary home that is gone afterwards."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_the_main_job_and_a_retry_with_its_reason(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert done.stderr == ""
    assert "primary: 301 attempted, 301 delivered, 0 duplicate, 0 retrying, 0 terminal-failed" \
        in out
    assert re.search(r"second: 301 attempted, 251 delivered, 0 duplicate, 50 retrying, "
                     r"0 terminal-failed; newest error: HTTP 503 ", out)
    assert re.search(r"second: retrying because: 50 × HTTP 503 ", out)
    assert "second: 50 attempted, 50 delivered, 0 duplicate, 0 retrying, 0 terminal-failed" in out
    assert "target teamspace is not ready: SaaS sync is off" in out
    assert re.search(r"teamspace: 301 attempted, 300 delivered, 0 duplicate, 0 retrying, "
                     r"1 terminal-failed; newest error: not a spec-kitty envelope", out)
    assert "POST /oauth/token  (grant_type=refresh_token)" in out
    assert re.search(r"POST /api/v1/events/batch/  \(X-Team-Slug: team-private-7f3a; "
                     r"X-Spec-Kitty-Sync-Protocol: 2.0; Content-Encoding: gzip; 300 events", out)
    assert "warning" not in out.lower()
    home = re.search(r"^# home (\S+)$", out, re.M).group(1)
    assert not Path(home).exists()
    assert out.rstrip().endswith("demo finished: receivers stopped, temporary home removed")
