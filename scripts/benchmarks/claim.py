"""Claim throughput: credsync's scanner pass (claim + enqueue) beside its two ceilings.

Four figures over the same pending backlog, on the same table and the same Redis broker:

* ``claim.rows_per_s``: credsync's real ``Scanner.run_once`` in a loop (claim a batch with
  ``Outbox.claim_due``, send one message per row), until the backlog is drained;
* ``claim.ceiling_rows_per_s``: a bare ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED
  LIMIT batch)`` loop, with no head-of-line rule, no back-pressure and no send: what Postgres alone
  allows;
* ``claim.enqueue_ceiling_rows_per_s``: Dramatiq's bare ``broker.enqueue``, one call per message, of
  the same messages: what the broker client alone allows when sending one by one;
* ``claim.enqueue_many_ceiling_rows_per_s``: ``worker.broker.enqueue_many`` of one batch at a time,
  with no claim: the ceiling of credsync's own send.

``claim.sql_ms_per_batch`` and ``claim.send_ms_per_batch`` split credsync's pass. The SQL includes
the back-pressure count of rows in flight, which here grows to the whole backlog (nothing finishes
them) where in production ``max_in_flight`` bounds it: the figure is on the safe side.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import dramatiq
import psycopg

from benchmarks import env
from worker import broker as brokers
from worker import db, settings, tasks
from worker.outbox import messages, repository, rows, scanner

#: The backlog: every task with a valid payload, every row with its own ordering key (learners
#: ``bench<n>``, course runs ``...+R<n>+...``), so the head-of-line rule is checked on every row but
#: holds none back (held rows would never be released here: no worker finishes anything).
BACKLOG_SQL = """
INSERT INTO credsync.outbox (task, payload)
SELECT CASE WHEN n %% 10 < 5 THEN 'award_course_certificate'
            WHEN n %% 10 < 7 THEN 'award_program_certificates'
            WHEN n %% 10 = 7 THEN 'revoke_program_certificates'
            WHEN n %% 10 = 8 THEN 'update_certificate_available_date_on_course_update'
            ELSE 'update_credentials_course_certificate_configuration_available_date' END,
       CASE WHEN n %% 10 < 5 THEN jsonb_build_object(
                'username', 'bench' || n, 'course_run_key', 'course-v1:edX+C' || (n %% 300) || '+2026')
            WHEN n %% 10 < 7 THEN jsonb_build_object('username', 'bench' || n)
            WHEN n %% 10 = 7 THEN jsonb_build_object(
                'username', 'bench' || n, 'course_key', 'course-v1:edX+C' || (n %% 300) || '+2026')
            WHEN n %% 10 = 8 THEN jsonb_build_object('course_key', 'course-v1:edX+R' || n || '+2026')
            ELSE jsonb_build_object('course_key', 'course-v1:edX+R' || n || '+2026',
                                    'certificate_available_date', '2026-09-01T00:00:00Z') END
FROM generate_series(1, %(rows)s) AS n
"""
BACKLOG_TASKS = frozenset(
    {
        "award_course_certificate",
        "award_program_certificates",
        "revoke_program_certificates",
        "update_certificate_available_date_on_course_update",
        "update_credentials_course_certificate_configuration_available_date",
    }
)

#: The ceiling's claim: the textbook SKIP LOCKED claim, on the same partial index as credsync's.
BARE_CLAIM_SQL = """
UPDATE credsync.outbox SET status = 'enqueued', enqueued_at = now(), lease_until = now() + interval '30 s'
WHERE id IN (SELECT id FROM credsync.outbox WHERE status = 'pending'
             ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
RETURNING id, task
"""


def measure(database_url: str, broker_url: str, *, rows: int, batch: int = 500) -> dict[str, Any]:
    """Claim throughput on the same table and broker, side by side with its ceilings.

    Each figure starts from a fresh backlog of ``rows`` pending rows (``credsync.outbox`` is
    emptied first and left empty). Messages go to a queue of their own, deleted afterwards.
    """
    if not set(tasks.REGISTRY.names()) >= BACKLOG_TASKS:
        raise RuntimeError(f"the backlog names tasks credsync does not know: {sorted(BACKLOG_TASKS)}")
    queue = f"credsync-bench-{uuid.uuid4().hex[:8]}"
    config = settings.load_core(
        {
            "DATABASE_URL": database_url,
            "BROKER_URL": broker_url,
            "CREDSYNC_QUEUE": queue,
            "CREDSYNC_CLAIM_BATCH": batch,
            "CREDSYNC_METRICS_PORT": "",
        }
    )
    broker = brokers.build(config)
    database = db.Database(
        database_url, host_schema="public", max_size=2, application_name="credsync-bench-claim"
    )
    try:
        with env.connect(database_url) as sql:
            ceiling = _bare_claim(sql, count=rows, batch=batch)
            enqueue = _bare_enqueue(broker, queue, ceiling.claimed)
            broker.flush(queue)
            enqueue_many = _enqueue_many(broker, queue, ceiling.claimed, batch)
            broker.flush(queue)
            credsync = _scanner_passes(sql, database, broker, config, count=rows, batch=batch)
            sql.execute("TRUNCATE credsync.outbox CASCADE")
    finally:
        database.close()
        env.delete_queue(broker_url, queue, broker_ids=[getattr(broker, "broker_id", "")])
        broker.close()
    return {
        "claim.rows": rows,
        "claim.batch": batch,
        "claim.rows_per_s": credsync.rows_per_s,
        "claim.ceiling_rows_per_s": ceiling.rows_per_s,
        "claim.enqueue_ceiling_rows_per_s": enqueue,
        "claim.enqueue_many_ceiling_rows_per_s": enqueue_many,
        "claim.passes": credsync.passes,
        "claim.ms_per_batch": credsync.ms_per_batch(credsync.total_s),
        "claim.sql_ms_per_batch": credsync.ms_per_batch(credsync.claim_s),
        "claim.send_ms_per_batch": credsync.ms_per_batch(credsync.send_s),
        "claim.ceiling_sql_ms_per_batch": ceiling.ms_per_batch(ceiling.total_s),
    }


class _Run:
    """Rows moved and time spent by one figure's loop."""

    def __init__(self) -> None:
        self.claimed: list[rows.Claimed] = []
        self.passes = 0
        self.total_s = 0.0
        self.claim_s = 0.0
        self.send_s = 0.0

    @property
    def rows_per_s(self) -> float:
        return round(len(self.claimed) / self.total_s, 1) if self.total_s else 0.0

    def ms_per_batch(self, seconds: float) -> float:
        return round(seconds * 1000 / self.passes, 2) if self.passes else 0.0


def _bare_claim(sql: psycopg.Connection[Any], *, count: int, batch: int) -> _Run:
    """The ceiling: the bare SKIP LOCKED claim loop, one transaction per batch, until drained."""
    _fill_backlog(sql, count)
    run = _Run()
    started = time.perf_counter()
    while True:
        found = sql.execute(BARE_CLAIM_SQL, {"batch": batch}, prepare=True).fetchall()
        run.passes += 1
        run.claimed.extend(rows.Claimed(r[0], r[1]) for r in found)
        if len(found) < batch:
            break
    run.total_s = time.perf_counter() - started
    if len(run.claimed) != count:
        raise RuntimeError(f"the bare claim took {len(run.claimed)} rows of {count}")
    return run


def _bare_enqueue(broker: dramatiq.Broker, queue: str, claimed: Sequence[rows.Claimed]) -> float:
    """The broker's ceiling: ``broker.enqueue`` of each row's message, one call per message."""
    started = time.perf_counter()
    for row in claimed:
        broker.enqueue(messages.message_for(row.id, row.task, queue))
    elapsed = time.perf_counter() - started
    return round(len(claimed) / elapsed, 1) if elapsed else 0.0


def _enqueue_many(broker: dramatiq.Broker, queue: str, claimed: Sequence[rows.Claimed], batch: int) -> float:
    """The ceiling of credsync's send: ``worker.broker.enqueue_many`` of one batch at a time."""
    started = time.perf_counter()
    for first in range(0, len(claimed), batch):
        chunk = claimed[first : first + batch]
        brokers.enqueue_many(broker, [messages.message_for(row.id, row.task, queue) for row in chunk])
    elapsed = time.perf_counter() - started
    return round(len(claimed) / elapsed, 1) if elapsed else 0.0


class _TimedOutbox(repository.Outbox):
    """credsync's outbox, adding up the time its claims take."""

    claim_s = 0.0

    def claim_due(self, *, batch: int, max_in_flight: int) -> list[rows.Claimed]:
        started = time.perf_counter()
        try:
            return super().claim_due(batch=batch, max_in_flight=max_in_flight)
        finally:
            self.claim_s += time.perf_counter() - started


def _scanner_passes(
    sql: psycopg.Connection[Any],
    database: db.Database,
    broker: dramatiq.Broker,
    config: settings.CoreSettings,
    *,
    count: int,
    batch: int,
) -> _Run:
    """credsync's figure: ``Scanner.run_once`` until a pass finds less than a full batch."""
    _fill_backlog(sql, count)
    run = _Run()
    outbox = _TimedOutbox(database, lease_s=config.lease_s)

    def send(claimed: Sequence[rows.Claimed]) -> None:
        # As worker.composition.App.send does, on a broker built as worker.app builds it.
        started = time.perf_counter()
        sent = messages.messages_for(
            claimed,
            queue_name=config.queue_name,
            most=config.rows_per_message,
            spread=config.messages_per_claim,
        )
        brokers.enqueue_many(broker, sent)
        run.send_s += time.perf_counter() - started
        run.claimed.extend(claimed)

    the_scanner = scanner.Scanner(
        outbox,
        send,
        known_tasks=frozenset(tasks.REGISTRY.names()),
        # Never paused: the pause gate reads the host's config rows, which are not ours to write here.
        gate=lambda: None,
        batch=batch,
        # Back-pressure off: no worker finishes rows here, so the default limit would stop the claim
        # after max_in_flight rows; the figure is the claim path's own rate.
        max_in_flight=count + batch,
        max_retries=config.max_retries,
        rescue_every_s=max(1.0, config.lease_s / 6),
    )
    outbox.unsettled_count()  # opens the pool's connection before the clock starts, as it was for the ceiling
    started = time.perf_counter()
    while True:
        result = the_scanner.run_once()
        run.passes += 1
        if not result.full:
            break
    run.total_s = time.perf_counter() - started
    run.claim_s = outbox.claim_s
    if len(run.claimed) != count:
        raise RuntimeError(f"the scanner sent {len(run.claimed)} rows of {count}")
    return run


def _fill_backlog(sql: psycopg.Connection[Any], count: int) -> None:
    """An empty outbox, then ``count`` pending rows through the insert trigger, then fresh statistics."""
    sql.execute("TRUNCATE credsync.outbox CASCADE")
    sql.execute(BACKLOG_SQL, {"rows": count})
    sql.execute("VACUUM ANALYZE credsync.outbox")
