"""Operator tools behind the ``credsync`` command: backfills and catalog loading."""
