"""Serve the console with waitress, after making sure its read path cannot write."""

from __future__ import annotations

import logging

import flask
import waitress

from worker import db, errors, settings
from worker.web import app, reads, writes

log = logging.getLogger(__name__)

READ_POOL_MAX = 4
#: A read statement running longer is cancelled by the server (the page says so): an open console
#: never holds the database busy, whatever a filter asks. Every page's statements take under
#: 100 ms at 5M rows (README "Web console").
READ_STATEMENT_TIMEOUT_MS = 5_000
WRITE_POOL_MAX = 2
#: waitress's worker threads: requests served at once.
THREADS = 4


def build(config: settings.WebSettings) -> tuple[flask.Flask, list[db.Database]]:
    """The app and the pools it uses (the caller closes them); refuses a read role that may write."""
    read_db = db.Database(
        config.web_database_url,
        host_schema=config.host_schema,
        max_size=READ_POOL_MAX,
        application_name="credsync-web",
        # A second wall beside the role's rights: every transaction of the read path is read-only.
        read_only=True,
        statement_timeout_ms=READ_STATEMENT_TIMEOUT_MS,
    )
    reader = reads.Reader(read_db)
    try:
        if reader.role_can_write():
            raise errors.ConfigurationError(
                "CREDSYNC_WEB_DATABASE_URL: its role may change credsync's tables; give the console a "
                "login role that is only a member of credsync_inspector (CREATE ROLE credsync_web LOGIN "
                "IN ROLE credsync_inspector)"
            )
    except Exception:
        read_db.close()
        raise
    pools = [read_db]
    writer = None
    if config.can_write:
        assert config.database_url is not None
        write_db = db.Database(
            config.database_url,
            host_schema=config.host_schema,
            max_size=WRITE_POOL_MAX,
            application_name="credsync-web-write",
        )
        pools.append(write_db)
        writer = writes.Writer(write_db)
    return app.create(config, reader, writer), pools


def serve(config: settings.WebSettings) -> None:
    """Listen on ``CREDSYNC_WEB_HOST``:``PORT`` until interrupted (SIGTERM or SIGINT)."""
    console, pools = build(config)
    mode = "operators may retry" if config.can_write else "read-only"
    log.info(
        "credsync web: http://%s:%d/ (%s%s)",
        config.web_host,
        config.port,
        mode,
        ", login needed to read" if config.login_to_read else "",
    )
    try:
        waitress.serve(console, host=config.web_host, port=config.port, threads=THREADS, ident="credsync")
    finally:
        for pool in pools:
            pool.close()
