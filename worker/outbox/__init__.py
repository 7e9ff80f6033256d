"""Generic outbox machinery: rows, claim and send, actors, row-marking middleware, maintenance.

Nothing here knows about certificates or programs (``worker.sync``) or about the Credentials
client (``worker.clients``); ``worker.composition`` wires them together. A test pins that rule.
"""
