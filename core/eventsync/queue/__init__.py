"""The queue domain: the bounded offline queue for retention-off use, in spec-kitty's format.

It owns the offline queue files (`queue.db`, the scoped `queue-<digest>.db` files), their
table, their naming rule (`scope.py`) and the cap, eviction and coalescing semantics
(`offline_queue.py`). It may import the shared modules and `journal`; nothing of delivery: a
drain reads a queue through `delivery.sources`, one floor up.
"""
