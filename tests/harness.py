"""The outbox pipeline in one process for tests: a real scanner, StubBroker, a real Dramatiq Worker.

Seams, not patches: any task registry and dependencies, passed to the composition root
(``worker.composition.build``) with a StubBroker; the machinery (claim, actors, row middleware,
Retries policy) and its wiring are the production code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
import pydantic
from dramatiq.brokers.stub import StubBroker

from worker import composition, db, errors, outcomes, settings
from worker.outbox import handlers, repository, rows

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
        rows_per_message: int = 10,
        clock: repository.Clock = repository.database_clock,
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
                "CREDSYNC_ROWS_PER_MESSAGE": rows_per_message,
            }
        )
        self.app = composition.build(
            config,
            broker=broker,
            registry=registry,
            database=database,
            make_deps=lambda _database, _observer: deps,
            gate=gate,
            clock=clock,
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


class ProbePayload(pydantic.BaseModel):
    name: str = pydantic.Field(strict=True)
    behaviour: str = "ok"
    failures: int = 0


class Probe:
    """A handler whose behaviour the payload chooses; counts calls per name."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.wait = threading.Event()

    def __call__(self, deps: object, payload: ProbePayload) -> outcomes.Outcome:
        with self.lock:
            self.calls[payload.name] = self.calls.get(payload.name, 0) + 1
            call = self.calls[payload.name]
        if payload.behaviour == "wait":
            self.wait.wait(10)
        if payload.behaviour == "skip":
            return outcomes.Skipped("nothing_to_do", "no reason to send")
        if payload.behaviour == "permanent":
            raise errors.PermanentSyncError("the data is wrong")
        if payload.behaviour == "crash" and call <= payload.failures:
            raise RuntimeError("unexpected bug")
        if payload.behaviour == "transient" and call <= payload.failures:
            raise errors.TransientSyncError(f"service unavailable (call {call})")
        if payload.behaviour == "follow":
            return outcomes.Sent(
                {"n": call}, (outcomes.FollowUp("probe", {"name": payload.name + "-child"}),)
            )
        return outcomes.Sent({"n": call})


class Harness(Pipeline):
    """The pipeline with one test task, ``probe``, whose behaviour the payload chooses."""

    def __init__(
        self, database: Any, sql: Any, *, max_retries: int = 2, lease_s: int = 30, rows_per_message: int = 10
    ) -> None:
        sql.execute(
            "INSERT INTO credsync.task (name, required_keys, ordering_scope, ordering_keys)"
            " VALUES ('probe', '{name}', 'probe', '{name}') ON CONFLICT DO NOTHING"
        )
        self.sql = sql
        self.probe = Probe()
        registry = handlers.Registry(
            [handlers.TaskSpec("probe", ProbePayload, self.probe, ("name",), "probe", ("name",))]
        )
        super().__init__(
            database,
            registry,
            None,
            max_retries=max_retries,
            lease_s=lease_s,
            rows_per_message=rows_per_message,
        )

    def insert(self, **payload: Any) -> int:
        row = self.sql.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES ('probe', %s) RETURNING id",
            (pydantic.TypeAdapter(dict).dump_json(payload).decode(),),
        ).fetchone()
        return int(row["id"])
