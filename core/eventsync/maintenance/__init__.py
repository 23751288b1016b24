"""The maintenance domain: the operator's commands that need the journal and the ledger at once.

Garbage collection (`gc.py`), archives (`archive.py`) and migration from legacy queue files
(`migrate.py`, with its `migration_*` tables). It may import every domain below it (shared,
`journal`, `queue`, `delivery`, `work`); only `cli` and the public face import it.
"""
