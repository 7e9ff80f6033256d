"""The outbox pipeline in one process for tests: a real scanner, StubBroker, a real Dramatiq Worker.

Seams, not patches: any task registry and dependencies, passed to the composition root
(``worker.composition.build``) with a StubBroker; the machinery (claim, actors, row middleware,
Retries policy) and its wiring are the production code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from worker import composition, db, settings
from worker.outbox import handlers, rows

QUEUE = "credsync-test"


class Pipeline:
    def __init__(
        self,
        database: db.Database,
        registry: handlers.Registry[Any],
        deps: Any,
        *,
        gate: Callable[[], str | None] = lambda: None,
        max_retries: int = 2,
        lease_s: int = 30,
    ) -> None:
        broker = StubBroker()
        broker.emit_after("process_boot")
        config = settings.load_core(
            {
                "DATABASE_URL": "postgresql://unused/x",
                "CREDSYNC_QUEUE": QUEUE,
                "CREDSYNC_MAX_RETRIES": max_retries,
                "CREDSYNC_MIN_BACKOFF_MS": 10,
                "CREDSYNC_MAX_BACKOFF_MS": 40,
                "CREDSYNC_LEASE_S": lease_s,
                "CREDSYNC_ACTOR_TIME_LIMIT_MS": 10_000,
                "CREDSYNC_CLAIM_BATCH": 100,
                "CREDSYNC_MAX_IN_FLIGHT": 1000,
                "CREDSYNC_METRICS_PORT": "",
            }
        )
        self.app = composition.build(
            config,
            broker=broker,
            registry=registry,
            database=database,
            make_deps=lambda _database, _observer: deps,
            gate=gate,
        )
        self.broker = self.app.broker
        self.actors = self.app.task_actors
        self.runtime = self.app.runtime()
        self.outbox = self.runtime.outbox
        self.scanner = self.app.make_scanner(self.outbox)
        self.worker = dramatiq.Worker(self.broker, worker_timeout=50)
        self.worker.start()

    def send(self, row: rows.Claimed) -> None:
        self.send_all([row])

    def send_all(self, claimed: Sequence[rows.Claimed]) -> None:
        self.app.send(claimed)

    def process(self) -> None:
        """Run every message sent so far, retries included."""
        self.broker.join(QUEUE, fail_fast=False)
        self.broker.join(f"{QUEUE}.DQ", fail_fast=False)
        self.worker.join()

    def drain(self, *, attempts: int = 200, allow_waiting: bool = False) -> None:
        """Scan and process until nothing is left to claim or run.

        ``allow_waiting``: rows may be left ``pending`` until a later time (a hold deferred them).
        """
        for _ in range(attempts):
            result = self.scanner.run_once(rescue=False)
            self.process()
            if result.claimed == 0 and self._unsettled(allow_waiting) == 0:
                return
        raise AssertionError("the outbox did not settle")

    def _unsettled(self, allow_waiting: bool) -> int:
        if not allow_waiting:
            return self.outbox.unsettled_count()
        with self.outbox.database.statement() as cur:
            cur.execute(
                "SELECT count(*) AS n FROM credsync.outbox"
                " WHERE status IN ('enqueued', 'running', 'retrying')"
                " OR (status = 'pending' AND run_after <= now())"
            )
            row = cur.fetchone()
        return int(row["n"]) if row else 0

    def row(self, row_id: int) -> dict[str, Any]:
        found = self.outbox.get(row_id)
        assert found is not None, f"no row {row_id}"
        return found

    def stop(self) -> None:
        self.worker.stop()
        self.broker.close()
