"""The delivery domain: where events go and what happened there.

It owns the `targets`, `deliveries` and `cursors` tables and the credentials file: the target
registry and canonical identity (`targets.py`), which target is active (`authority.py`),
tokens (`credentials.py`), the per-(event, target) ledger (`ledger.py`), select -> post ->
record (`dispatcher.py`), what a drain reads (`sources.py`), a drain as one job
(`drains.py`, `drain_runner.py`), and the batch HTTP client and URL rules every HTTP
receiver shares (`batch_http.py`, `transport.py`). It may import the shared modules,
`journal`, `queue` and `work`; never `maintenance` or `cli`.
"""
