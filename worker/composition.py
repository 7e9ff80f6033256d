"""Composition root: ``build(config)`` wires the broker, the outbox machinery and the sync tasks.

Every process gets its app here: Dramatiq and periodiq (``worker.app``), the scanner and the
commands (``worker.cli``), the tests' pipeline (``tests/harness.py``) and the bench. Seams are
arguments of ``build``, never subclasses. Nothing is built before it is asked for: the broker and
its actors on first use of ``App.broker``, the runtime once per process on first ``App.runtime()``
(after Dramatiq forks, and after the metrics exporter prepared the process: ``worker.metrics``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from periodiq import cron

from worker import broker as brokers
from worker import db, errors, settings, tasks
from worker.clients import credentials, tokens, transport
from worker.metrics import workers
from worker.outbox import (
    actors,
    cooldowns,
    handlers,
    ledger,
    maintenance,
    messages,
    middleware,
    repository,
    rows,
    scanner,
)
from worker.sync import certificates, host

log = logging.getLogger(__name__)

MAINTENANCE_ACTOR = "credsync_maintenance"
MAINTENANCE_SCHEDULE = "* * * * *"
#: Database connections per worker process: Dramatiq's threads plus the heartbeat and hooks.
POOL_MAX_SIZE = 16
#: The scanner's connections: its passes, and a metrics scrape at a time.
SCANNER_POOL_MAX_SIZE = 2

MakeDeps = Callable[[db.Database, transport.Observer], Any]
"""The sync functions' dependencies on a database; ``observer`` is to hear every HTTP exchange."""


def build(
    config: settings.CoreSettings,
    *,
    broker: dramatiq.Broker | None = None,
    registry: handlers.Registry[Any] = tasks.REGISTRY,
    database: db.Database | None = None,
    make_deps: MakeDeps | None = None,
    gate: scanner.Gate | None = None,
    clock: repository.Clock = repository.database_clock,
) -> App:
    """The app of ``config``; each keyword argument replaces a part (tests, the bench).

    ``broker`` to wire (given the middleware ``worker.broker.build`` adds), instead of one from
    ``BROKER_URL``; ``registry``, the tasks; ``database``, the runtime's, instead of a pool per
    process; ``make_deps`` instead of ``App.deps`` (which needs the full ``settings.Settings``);
    ``gate`` instead of ``App.gate``; ``clock``, the runtime outbox's "now" (tests move it).
    """
    return App(
        config,
        broker=broker,
        registry=registry,
        database=database,
        make_deps=make_deps,
        gate=gate,
        clock=clock,
    )


class App:
    """A wired credsync: broker and actors, the per-process runtime, scanners, maintenance, client."""

    def __init__(
        self,
        config: settings.CoreSettings,
        *,
        broker: dramatiq.Broker | None,
        registry: handlers.Registry[Any],
        database: db.Database | None,
        make_deps: MakeDeps | None,
        gate: scanner.Gate | None,
        clock: repository.Clock = repository.database_clock,
    ) -> None:
        self.config = config
        self._clock = clock
        self.registry = registry
        self.task_names = frozenset(registry.names())
        self._given_broker = broker
        self._database = database
        self._make_deps = make_deps
        self._gate = gate
        self._wiring: tuple[dramatiq.Broker, dict[str, dramatiq.Actor[Any, Any]]] | None = None
        self._wiring_lock = threading.Lock()
        self._runtime: actors.Runtime[Any] | None = None
        self._runtime_lock = threading.Lock()

    @property
    def broker(self) -> dramatiq.Broker:
        """The broker with its middleware (retries, row marking, periodiq, metrics) and actors.

        Its actors: one per registered task (``task_actors``), and ``credsync_maintenance``, which
        periodiq sends every minute (``run_maintenance``).
        """
        return self._wired()[0]

    @property
    def task_actors(self) -> dict[str, dramatiq.Actor[Any, Any]]:
        """One actor per registered task, by task name."""
        return self._wired()[1]

    def send(self, claimed: Sequence[rows.Claimed]) -> None:
        """Send the messages of claimed rows (row ids only, packed when deep), in one round trip on Redis."""
        sent = messages.messages_for(
            claimed,
            queue_name=self.config.queue_name,
            most=self.config.rows_per_message,
            spread=self.config.messages_per_claim,
        )
        brokers.enqueue_many(self.broker, sent)

    def _wired(self) -> tuple[dramatiq.Broker, dict[str, dramatiq.Actor[Any, Any]]]:
        with self._wiring_lock:
            if self._wiring is None:
                self._wiring = self._wire()
            return self._wiring

    def _wire(self) -> tuple[dramatiq.Broker, dict[str, dramatiq.Actor[Any, Any]]]:
        config = self.config
        given = self._given_broker
        broker = brokers.build(config) if given is None else brokers.configure(given, config)
        broker.add_middleware(middleware.OutboxRows(self.runtime, self.task_names, lease_s=config.lease_s))
        task_actors = messages.declare(
            broker,
            self.registry,
            self.runtime,
            queue_name=config.queue_name,
            time_limit_ms=config.actor_time_limit_ms,
        )

        def run_maintenance() -> None:
            """Every minute (periodiq): rescue lost rows, prune old finished rows, scan once."""
            self.run_maintenance()

        dramatiq.actor(
            actor_name=MAINTENANCE_ACTOR,
            queue_name=config.queue_name,
            broker=broker,
            periodic=cron(MAINTENANCE_SCHEDULE),
            max_retries=0,
        )(run_maintenance)
        return broker, task_actors

    def runtime(self) -> actors.Runtime[Any]:
        """This process's outbox, sync dependencies and outcome hook (built on first use)."""
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = self._build_runtime()
            return self._runtime

    def close(self) -> None:
        """Close the runtime's pool if this app opened it (a command's app; worker processes just exit)."""
        with self._runtime_lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None and self._database is None:
            runtime.outbox.database.close()

    def _build_runtime(self) -> actors.Runtime[Any]:
        database = self._database or self.open_database("credsync-worker", POOL_MAX_SIZE)
        observer: transport.Observer = ledger.Ledger(database).record
        on_outcome: actors.OutcomeHook | None = None
        if self.config.metrics_port is not None:
            counters = workers.WorkerMetrics()
            observer = workers.tee(observer, counters.http_exchange)
            on_outcome = counters.row_outcome
        make_deps = self._make_deps or self.deps
        return actors.Runtime(
            outbox=repository.Outbox(database, lease_s=self.config.lease_s, clock=self._clock),
            deps=make_deps(database, observer),
            on_outcome=on_outcome,
        )

    def open_database(self, application_name: str, max_size: int) -> db.Database:
        """A pool for one of credsync's own processes (its bookkeeping commits without waiting)."""
        config = self.config
        return db.Database(
            config.database_url,
            host_schema=config.host_schema,
            max_size=max_size,
            application_name=application_name,
            synchronous_commit=config.synchronous_commit,
        )

    def deps(self, database: db.Database, observer: transport.Observer | None = None) -> tasks.Deps:
        """The host reader, the Credentials client (with the hold book) and the LMS rules."""
        config = self._full_settings()
        return tasks.Deps(
            host=host.HostReader(database),
            credentials=self.client(database, observer=observer),
            rules=certificates.Rules(
                disable_honor_certificates=config.disable_honor_certificates,
                programs_without_certificates=config.programs_without_certificates,
            ),
        )

    def client(
        self, database: db.Database, *, observer: transport.Observer | None = None, holds: bool = True
    ) -> credentials.CredentialsClient:
        """The client of ``CREDENTIALS_URL``; ``observer`` hears every exchange (the delivery ledger).

        With ``LMS_JWT_*`` it signs its tokens, with the claims of the ``auth_user`` rows of
        ``database``. ``holds``: record and honour holds in the hold book (the doctor's probes go
        without: they must not make rows wait).
        """
        config = self._full_settings()
        return credentials.CredentialsClient.from_settings(
            config,
            observer=observer,
            cooldowns=cooldowns.Cooldowns(database) if holds else None,
            signer=tokens.Signer.from_settings(config, host.HostReader(database).identity),
        )

    def _full_settings(self) -> settings.Settings:
        if isinstance(self.config, settings.Settings):
            return self.config
        raise errors.ConfigurationError("the Credentials settings (CREDENTIALS_URL, ...) were not loaded")

    def gate(self, database: db.Database) -> scanner.Gate:
        """Why the scanner claims nothing now: the host disabled sync, or Credentials asked to wait.

        The second needs ``CREDENTIALS_URL``: built from core settings only, the gate reads the
        host's config alone.
        """
        if self._gate is not None:
            return self._gate
        reader = host.HostReader(database)
        waits = cooldowns.Cooldowns(database)
        config = self.config
        destination = (
            credentials.destination(config.credentials_url) if isinstance(config, settings.Settings) else None
        )

        def paused() -> str | None:
            reason = reader.paused_reason()
            if reason is None and destination is not None:
                reason = waits.paused_reason(destination)
            return reason

        return paused

    def make_scanner(
        self, outbox: repository.Outbox, *, observe: scanner.Observe | None = None
    ) -> scanner.Scanner:
        """A scanner of ``outbox`` that sends to this app's broker and pauses on ``gate``."""
        config = self.config
        return scanner.Scanner(
            outbox,
            self.send,
            known_tasks=self.task_names,
            gate=self.gate(outbox.database),
            batch=config.claim_batch,
            max_in_flight=config.max_in_flight,
            max_retries=config.max_retries,
            rescue_every_s=max(1.0, config.lease_s / 6),
            observe=observe,
        )

    def run_maintenance(self) -> maintenance.MaintenanceResult:
        """Rescue lost rows, prune old finished rows, scan once (periodiq, ``credsync maintenance``)."""
        config = self.config
        outbox = self.runtime().outbox
        return maintenance.run_once(
            outbox,
            self.make_scanner(outbox),
            max_retries=config.max_retries,
            retention_done_days=config.retention_done_days,
            retention_failed_days=config.retention_failed_days,
        )
