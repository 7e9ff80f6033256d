"""The delivery ledger: every HTTP request made for a row's attempt, written as it happens.

The actor wrapper marks which row, run and attempt the current thread is running (``attempt_scope``);
the HTTP client reports each exchange to ``Ledger.record``, which writes it in its own
transaction, so it survives a crash before the row's outcome is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

from worker import db

log = logging.getLogger(__name__)

_current: contextvars.ContextVar[tuple[int, int, int] | None] = contextvars.ContextVar(
    "credsync_attempt", default=None
)


@contextlib.contextmanager
def attempt_scope(row_id: int, attempt: int, run: int = 1) -> Iterator[None]:
    """Within this block, exchanges are recorded against ``row_id``'s attempt ``attempt`` of run ``run``."""
    token = _current.set((row_id, attempt, run))
    try:
        yield
    finally:
        _current.reset(token)


class Ledger:
    def __init__(self, database: db.Database) -> None:
        self.database = database

    def record(self, method: str, url: str, status: int | None, duration_ms: int, error: str | None) -> None:
        """Write one HTTP exchange (``status`` None: no answer) against the current attempt.

        Outside an attempt (e.g. a tool's own request) it does nothing.
        """
        current = _current.get()
        if current is None:
            return
        row_id, attempt, run = current
        try:
            with self.database.statement() as cur:
                db.execute(
                    cur,
                    "delivery_record",
                    {
                        "outbox_id": row_id,
                        "run": run,
                        "attempt": attempt,
                        "method": method,
                        "url": url,
                        "status": status,
                        "duration_ms": duration_ms,
                        "error": error,
                    },
                )
        except Exception:
            # The ledger explains; it must never turn a delivered request into a failed attempt.
            log.exception("row %d: could not record %s %s in the delivery ledger", row_id, method, url)

    def of_row(self, row_id: int) -> list[db.Row]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, "delivery_of_row", {"id": row_id})
