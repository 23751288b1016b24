"""Hook implementations registered under the `eventsync` entry-point group."""
