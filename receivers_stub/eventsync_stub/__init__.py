"""eventsync receiver plugin: stub."""
