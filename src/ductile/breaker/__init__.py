"""The per-(plugin, command) circuit breaker of scheduled jobs (pipelines.md §8).

`state` holds the pure decisions; the store (`ductile.store.breaker`) applies them inside the
transaction that finishes a job, and `gate` is what the scheduler asks before it enqueues.
"""
