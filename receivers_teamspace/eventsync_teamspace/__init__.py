"""eventsync receiver plugin: teamspace."""
