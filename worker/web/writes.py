"""The console's one write: retry every failed row matching a filter, recorded in ``credsync.web_audit``."""

from __future__ import annotations

import datetime
import logging

from psycopg.types.json import Jsonb

from worker import db
from worker.web import filters

log = logging.getLogger(__name__)

#: Rows retried per transaction: short locks, and the audit row advances with each batch.
RETRY_BATCH = 1_000


class Writer:
    """Write actions, through ``DATABASE_URL`` (the worker's role); each is audited."""

    def __init__(self, database: db.Database) -> None:
        self.database = database

    def retry_failed(
        self,
        where: filters.FailedFilter,
        *,
        as_of: datetime.datetime | None,
        operator: str,
        previewed: int,
        client: str | None,
    ) -> tuple[int, int]:
        """Retry every failed row matching ``where`` that failed by ``as_of``; returns (audit id, rows).

        Rows go back to pending exactly as ``credsync retry`` puts them (``outbox_retry_failed``),
        in batches; each batch and its count on the audit row commit together.
        """
        with self.database.transaction() as cur:
            started = db.fetch_one(
                cur,
                "web_audit_start",
                {
                    "operator": operator,
                    "action": "retry_failed",
                    "filter": Jsonb({**where.describe(), "as_of": as_of.isoformat() if as_of else None}),
                    "previewed": previewed,
                    "client": client,
                },
            )
        assert started is not None
        audit_id = int(started["id"])
        total = 0
        params = {**where.params(), "as_of": as_of, "batch": RETRY_BATCH}
        while True:
            with self.database.transaction() as cur:
                ids = [r["id"] for r in db.fetch_all(cur, "web_failed_match_ids", params)]
                if not ids:
                    break
                retried = db.fetch_all(cur, "outbox_retry_failed", {"ids": ids})
                db.execute(cur, "web_audit_add_rows", {"id": audit_id, "rows": len(retried)})
            total += len(retried)
        with self.database.statement() as cur:
            db.execute(cur, "web_audit_finish", {"id": audit_id})
        log.info("web: %s retried %d failed rows (audit %d, filter %s)", operator, total, audit_id, where)
        return audit_id, total
