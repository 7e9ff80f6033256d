"""The sync rules: the upstream tasks ported, reading host tables and calling Credentials.

Knows nothing of Dramatiq or the outbox table: each task is a function of its dependencies and a
validated payload that returns an outcome (``worker.outcomes``) or raises a ``SyncError``.
"""
