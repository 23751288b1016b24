"""Helpers that tests in several folders import (`from support.X import ...`); each folder's own
helpers live in its `<folder>_helpers.py` and its fixtures in its `conftest.py`."""
