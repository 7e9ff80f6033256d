"""The operators' web console (``credsync web``): server-rendered pages over the outbox, closed by default.

Modules, from the database up: ``filters`` (the failed-rows filter, parsed from a query string),
``reads`` (every page's statements, run as ``credsync_inspector`` through
``CREDSYNC_WEB_DATABASE_URL``), ``writes`` (bulk retry with its audit row, through ``DATABASE_URL``),
``charts`` (inline SVG), ``auth`` (operators, sessions, CSRF), ``app`` (the Flask routes and the
security headers) and ``server`` (waitress, and the checks made before listening).

The security model: the read path's role may only read (the console refuses to start with one
that may write, and its sessions are read-only besides), so a bug in a page cannot change a row.
Writes exist only when operators are configured, need an operator's login and a CSRF token, and
are recorded in ``credsync.web_audit``. Bound beyond loopback, every page needs a login.
"""
