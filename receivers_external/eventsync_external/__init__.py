"""eventsync receiver plugin: external."""
