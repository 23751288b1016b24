"""eventsync receiver plugin: NATS JetStream, one message per event, deduplicated by event id."""
