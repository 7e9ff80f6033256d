"""Every read and guarded write of ``credsync.outbox``: one small function per named query."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from worker import db, errors, queries
from worker.outbox import rows

Clock = Callable[[], datetime.datetime | None]
#: Told, once a row is finished by this call, how many seconds it took from insert to finish.
OnFinished = Callable[[float], None]

# EXPLAIN cannot be a named query of its own without copying the claim: it wraps the real one.
_EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "


def database_clock() -> datetime.datetime | None:
    """The production clock: None lets each statement use the database's now()."""
    return None


class Outbox:
    """The outbox table, bound to a database, a lease length and a clock."""

    def __init__(self, database: db.Database, *, lease_s: int, clock: Clock = database_clock) -> None:
        self.database = database
        self.lease_s = lease_s
        self.clock = clock

    def claim_due(self, *, batch: int, max_in_flight: int) -> list[rows.Claimed]:
        """Claim up to ``batch`` due rows (fewer when ``max_in_flight`` is near), oldest first."""
        with self.database.transaction() as cur:
            db.execute(cur, "outbox_claim_walk")
            found = db.fetch_all(cur, "outbox_claim_due", self._claim_params(batch, max_in_flight))
        return sorted((rows.Claimed(r["id"], r["task"], r["attempts"]) for r in found), key=lambda r: r.id)

    def explain_claim(
        self, *, batch: int, max_in_flight: int, prepare: Callable[[db.Cursor], object] | None = None
    ) -> list[dict[str, Any]]:
        """``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` of ``claim_due``'s claim, run as it runs, rolled back.

        Returns Postgres's JSON plan: a list of one object (``Plan``, ``Execution Time``, ...).
        Nothing is claimed, but the rows the claim would take stay locked for its milliseconds and
        up to a batch of dead row versions is left behind. ``prepare`` runs first, in the same
        transaction (the doctor caps statement time there).
        """
        with self.database.transaction() as cur:
            if prepare is not None:
                prepare(cur)
            with cur.connection.transaction(force_rollback=True):
                # The walk setting first, in the same transaction, or the plan is not the claim's.
                db.execute(cur, "outbox_claim_walk")
                cur.execute(
                    _EXPLAIN + queries.get("outbox_claim_due"), self._claim_params(batch, max_in_flight)
                )
                row = cur.fetchone()
        if row is None:
            raise errors.DatabaseError("EXPLAIN of the claim returned no plan")
        explained = next(iter(row.values()))
        # psycopg loads the json column; a text answer (a custom loader) is parsed here.
        return list(json.loads(explained) if isinstance(explained, str) else explained)

    def _claim_params(self, batch: int, max_in_flight: int) -> dict[str, Any]:
        return {"now": self.clock(), "batch": batch, "max_in_flight": max_in_flight, "lease_s": self.lease_s}

    def release(self, ids: Sequence[int]) -> int:
        """Put claimed rows whose message could not be sent back to pending."""
        with self.database.transaction() as cur:
            return db.execute(cur, "outbox_release", {"ids": list(ids)})

    def start(self, row_id: int) -> rows.Started | None:
        with self.database.statement() as cur:
            row = db.fetch_one(
                cur, "outbox_start", {"id": row_id, "now": self.clock(), "lease_s": self.lease_s}
            )
        return None if row is None else _started(row)

    def start_many(self, row_ids: Sequence[int], attempt: int | None) -> list[rows.Started]:
        """Begin the attempts of a message's rows (``outbox_start_many``), in id order.

        ``attempt`` None: its first delivery (rows enqueued that never ran); else a retry of the rows
        that are retrying at that attempt. Every row returned is at the same attempt.
        """
        params = {"ids": list(row_ids), "attempt": attempt, "now": self.clock(), "lease_s": self.lease_s}
        with self.database.statement() as cur:
            found = db.fetch_all(cur, "outbox_start_many", params)
        return sorted((_started(r) for r in found), key=lambda r: r.id)

    def status_of(self, row_id: int) -> tuple[rows.Status, int] | None:
        with self.database.statement() as cur:
            row = db.fetch_one(cur, "outbox_status_of", {"id": row_id})
        return None if row is None else (rows.Status(row["status"]), row["attempts"])

    def record_error(
        self, row_id: int, attempt: int, error: str, result: Mapping[str, Any] | None = None
    ) -> bool:
        """Keep the attempt's error (and, when given, what it did before failing) on the row."""
        params = {
            "id": row_id,
            "attempt": attempt,
            "error": error,
            "result": Jsonb(dict(result)) if result else None,
        }
        with self.database.statement() as cur:
            return db.execute(cur, "outbox_record_error", params) == 1

    def mark_done(
        self,
        row_id: int,
        attempt: int,
        result: Mapping[str, Any],
        follow_ups: Iterable[tuple[str, Mapping[str, Any]]] = (),
        *,
        on_finished: OnFinished | None = None,
    ) -> bool:
        """Finish the attempt; follow-up rows are inserted in the same transaction, only if it won.

        ``on_finished`` is called after the commit, only if it won.
        """
        follow_ups = list(follow_ups)
        # Follow-up rows commit with the outcome; without any, one statement (one round trip).
        scope = self.database.transaction() if follow_ups else self.database.statement()
        with scope as cur:
            won = db.fetch_one(
                cur,
                "outbox_mark_done",
                {"id": row_id, "attempt": attempt, "result": Jsonb(dict(result)), "now": self.clock()},
            )
            if won is not None:
                for task, payload in follow_ups:
                    db.fetch_one(cur, "outbox_insert", {"task": task, "payload": Jsonb(dict(payload))})
        _tell_finished(won, on_finished)
        return won is not None

    def mark_done_many(
        self, done: Sequence[tuple[int, int, Mapping[str, Any]]], *, on_finished: OnFinished | None = None
    ) -> set[int]:
        """Finish several attempts (row id, attempt, result) in one statement; the ids that won.

        ``on_finished`` is called once per row that won, after the commit.
        """
        if not done:
            return set()
        params = {
            "ids": [row_id for row_id, _, _ in done],
            "attempts": [attempt for _, attempt, _ in done],
            "results": [Jsonb(dict(result)) for _, _, result in done],
            "now": self.clock(),
        }
        with self.database.statement() as cur:
            won = db.fetch_all(cur, "outbox_mark_done_many", params)
        for row in won:
            _tell_finished(row, on_finished)
        return {row["id"] for row in won}

    def defer(self, row_id: int, attempt: int, until: datetime.datetime, reason: str) -> bool:
        """Back to pending until ``until``, the attempt not counted (a hold, not a failure).

        ``reason`` goes to ``waiting_on``; ``last_error`` keeps the last real error.
        """
        with self.database.statement() as cur:
            row = db.fetch_one(
                cur, "outbox_defer", {"id": row_id, "attempt": attempt, "until": until, "reason": reason}
            )
        return row is not None

    def mark_retrying(self, row_id: int, attempt: int, delay_ms: int) -> bool:
        with self.database.statement() as cur:
            row = db.fetch_one(
                cur,
                "outbox_mark_retrying",
                {
                    "id": row_id,
                    "attempt": attempt,
                    "delay_ms": delay_ms,
                    "lease_s": self.lease_s,
                    "now": self.clock(),
                },
            )
        return row is not None

    def mark_failed(
        self,
        row_id: int,
        attempt: int | None,
        error: str | None = None,
        *,
        on_finished: OnFinished | None = None,
    ) -> bool:
        """Fail the row; ``on_finished`` is called after the commit, only if this call failed it."""
        with self.database.statement() as cur:
            row = db.fetch_one(
                cur,
                "outbox_mark_failed",
                {"id": row_id, "attempt": attempt, "error": error, "now": self.clock()},
            )
        _tell_finished(row, on_finished)
        return row is not None

    def extend_leases(self, ids: Iterable[int]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self.database.statement() as cur:
            return db.execute(
                cur, "outbox_extend_leases", {"ids": ids, "lease_s": self.lease_s, "now": self.clock()}
            )

    def rescue_expired(self, *, max_retries: int, limit: int = 1000) -> list[rows.Rescued]:
        with self.database.statement() as cur:
            found = db.fetch_all(
                cur,
                "outbox_rescue_expired",
                {"now": self.clock(), "max_retries": max_retries, "limit": limit},
            )
        return [rows.Rescued(r["id"], r["task"], rows.Status(r["status"]), r["attempts"]) for r in found]

    def prune_finished(self, *, done_days: int, failed_days: int, limit: int = 10_000) -> int:
        with self.database.statement() as cur:
            return db.execute(
                cur,
                "outbox_prune_finished",
                {"now": self.clock(), "done_days": done_days, "failed_days": failed_days, "limit": limit},
            )

    def insert(self, task: str, payload: Mapping[str, Any]) -> int:
        with self.database.statement() as cur:
            row = db.fetch_one(cur, "outbox_insert", {"task": task, "payload": Jsonb(dict(payload))})
        assert row is not None
        return int(row["id"])

    def retry_failed(self, ids: Sequence[int]) -> list[int]:
        with self.database.statement() as cur:
            return [r["id"] for r in db.fetch_all(cur, "outbox_retry_failed", {"ids": list(ids)})]

    def failed_ids(self, task: str | None = None) -> list[int]:
        with self.database.statement() as cur:
            return [r["id"] for r in db.fetch_all(cur, "outbox_failed_ids", {"task": task})]

    def get(self, row_id: int) -> dict[str, Any] | None:
        with self.database.statement() as cur:
            return db.fetch_one(cur, "outbox_get", {"id": row_id})

    def summary(self) -> list[dict[str, Any]]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, "outbox_summary")

    def recent_activity(self) -> dict[str, Any]:
        """``finished_per_minute`` over the last hour and ``oldest_pending_s`` (None when none pending)."""
        with self.database.statement() as cur:
            row = db.fetch_one(cur, "outbox_recent_activity")
        assert row is not None
        return row

    def recent_failed(self, limit: int) -> list[dict[str, Any]]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, "outbox_recent_failed", {"limit": limit})

    def unsettled_count(self) -> int:
        with self.database.statement() as cur:
            row = db.fetch_one(cur, "outbox_unsettled_count")
        return int(row["n"]) if row else 0


def _started(row: db.Row) -> rows.Started:
    return rows.Started(
        row["id"], row["task"], row["payload"], row["attempts"], row["ordering_key"], row["run"]
    )


def _tell_finished(row: db.Row | None, on_finished: OnFinished | None) -> None:
    if row is not None and on_finished is not None:
        on_finished(max(0.0, (row["finished_at"] - row["created_at"]).total_seconds()))
