"""The package version, in a module of its own so that any layer may read it without importing
the public face (which imports the layers)."""

__version__ = "0.1.0"
