"""Plugins that ship with eventsync and register exactly like third-party ones."""
