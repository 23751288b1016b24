"""An eventsync plugin module that fails on import, as a buggy third-party plugin would."""

raise RuntimeError("this plugin is broken on purpose")
