"""The journal domain: every event ever appended, in order, and nothing about delivery.

It owns the `journal`, `journal_superseded` and `journal_pin` tables: the append-only journal
(`journal.py`), where producer events enter and which policy applies to them (`ingest.py`),
coalescing (`coalesce.py`) and the few operator statements that rewrite journal rows
(`lifecycle.py`). It imports only the shared modules (`eventsync.events`, `store`, `config`,
`audit`, `errors`, `home`), never `queue`, `delivery` or `maintenance`: the one delivery fact
it obeys, "this event was handed to a target", delivery writes into `journal_pin` through
`journal.pin_through`, and the offline queue that retention-off ingest spills into is handed
in by the caller.
"""
