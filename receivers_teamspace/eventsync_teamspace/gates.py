"""The machine-level SaaS opt-in, read as spec-kitty reads it (SPEC-KITTY-COMPAT §4).

Nothing leaves the machine for Teamspace unless `SPEC_KITTY_ENABLE_SAAS_SYNC` or
`EVENTSYNC_ENABLE_SAAS_SYNC` says yes (1, true, yes, y, on; any case), and
`SPEC_KITTY_SYNC_DISABLE` / `SPEC_KITTY_SYNC_MINIMAL_IMPORT` turn it off again. No target option
can open this gate: an option lives in a database a script may have written.
"""

from __future__ import annotations

import os

ENABLE_VARS = ("SPEC_KITTY_ENABLE_SAAS_SYNC", "EVENTSYNC_ENABLE_SAAS_SYNC")
DISABLE_VARS = ("SPEC_KITTY_SYNC_DISABLE", "SPEC_KITTY_SYNC_MINIMAL_IMPORT")
YES = frozenset({"1", "true", "yes", "y", "on"})


def saas_gate_problem() -> str | None:
    """Why SaaS sync is off on this machine, or None when it is on."""
    for name in DISABLE_VARS:
        if _yes(os.environ.get(name)):
            return f"SaaS sync is disabled by {name}; unset it to sync to Teamspace"
    if not any(_yes(os.environ.get(name)) for name in ENABLE_VARS):
        return (f"SaaS sync is off: set {ENABLE_VARS[0]}=1 (or {ENABLE_VARS[1]}=1) to send "
                "events to Teamspace")
    return None


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() in YES
