"""The system of one fault test: its database, broker queue, emulator and credsync processes.

Everything is real: a private PostgreSQL cluster and broker (``tests.system``) that tests stop,
flush and restart, the Credentials emulator over HTTP, and the ``credsync`` worker, scanner and
scheduler as separate processes (``tests.system.processes``). ``System`` starts, kills and
stops them, reads the outbox and its audit trail, and ``check_invariants`` (``invariants``)
proves afterwards that nothing was lost.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows

from tests.faults import invariants
from tests.system import brokers, postgres, processes
from worker.emulator import server

#: The documented recovery bound with ``CREDSYNC_LEASE_S=3``: lease + scan interval + slack.
LEASE_S = 3
RECOVERY_BOUND_S = 15.0
#: How long a whole drain may take before a wait gives up (a deadline, not a measurement).
SETTLE_TIMEOUT_S = 90.0
WORKER_ARGS = ("-p", "1", "-t", "4")

#: Measured recovery times, printed in the terminal summary by tests/faults/conftest.py.
MEASUREMENTS: list[str] = []


def record_measurement(line: str) -> None:
    MEASUREMENTS.append(line)
    print(line)


def seconds_to_next_minute() -> float:
    """Wall-clock seconds until the next minute starts (when periodiq's ``* * * * *`` tick fires)."""
    return 60.0 - time.time() % 60.0


def sleep_until_seconds_to_next_minute(low: float, high: float) -> None:
    """Sleep until the next minute is between ``low`` and ``high`` seconds away (``high - low`` ≥ 0.2).

    Used to place a fault around (or away from) the scheduler's minute tick; at most a minute.
    """
    while not low < seconds_to_next_minute() <= high:
        time.sleep(0.05)


class System:
    """The credsync processes of one test, their database, broker queue and Credentials emulator."""

    def __init__(
        self,
        *,
        pg: postgres.PrivatePostgres,
        broker: brokers.PrivateBroker,
        database: str,
        emulator: server.Emulator,
        workdir: Path,
    ) -> None:
        self.pg = pg
        self.broker = broker
        self.database = database
        self.url = pg.url_for(database)
        self.emulator = emulator
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.launcher = processes.Processes(workdir)
        #: role → its process (the last start of that role)
        self.processes = self.launcher.by_role
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CREDSYNC_")}
        #: the processes' environment: a test may change it before starting them
        self.env: dict[str, str] = {
            **inherited,
            "PATH": processes.bin_path(),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.url,
            "BROKER_URL": broker.url,
            "CREDENTIALS_URL": emulator.url,
            "OAUTH_URL": emulator.url,
            "OAUTH_CLIENT_ID": "credsync",
            "OAUTH_CLIENT_SECRET": "credsync-secret",
            "CREDSYNC_QUEUE": self.queue,
            "CREDSYNC_LEASE_S": str(LEASE_S),
            "CREDSYNC_MIN_BACKOFF_MS": "100",
            "CREDSYNC_MAX_BACKOFF_MS": "1000",
            "CREDSYNC_MAX_RETRIES": "10",
            # The scenarios' tens of rows go one or two a message (the default, 8, would pack a
            # claim of 40 into 8 messages of 5), so that a fault finds rows running on both hosts and
            # messages waiting in the broker. Packed messages have their own fault tests
            # (tests/integration/test_batches.py).
            "CREDSYNC_MESSAGES_PER_CLAIM": "32",
        }

    def record(self, line: str) -> None:
        """``record_measurement`` of ``line``, marked with this system's broker."""
        record_measurement(f"[{self.broker.kind}] {line}")

    # -- processes -------------------------------------------------------------------------------

    def start(self, role: str, *args: str, wait_ready: bool = True) -> processes.Process:
        """Start ``credsync <kind> args`` as ``role`` (kind = role without a trailing digit)."""
        process = self.launcher.start_credsync(role, *args, env=self.env)
        if wait_ready:
            self.wait_ready(role)
        return process

    def start_all(self, *, workers: int = 1, scanners: int = 1, schedulers: int = 1) -> None:
        roles = []
        for kind, count in (("worker", workers), ("scanner", scanners), ("scheduler", schedulers)):
            for n in range(count):
                role = kind if n == 0 else f"{kind}{n + 1}"
                self.start(role, *(WORKER_ARGS if kind == "worker" else ()), wait_ready=False)
                roles.append(role)
        for role in roles:
            self.wait_ready(role)

    def wait_ready(self, role: str, timeout_s: float = 30) -> None:
        self.launcher.wait_ready(role, timeout_s)

    def pids(self, role: str | None = None) -> list[int]:
        """Running processes of ``role`` (all of this test's when None), children included."""
        return self.launcher.pids(role)

    def kill(self, role: str | None = None) -> None:
        """SIGKILL every process of ``role`` (all of this test's when None), children included."""
        self.launcher.kill(role)

    def stop(self, role: str, timeout_s: float = 15) -> float:
        """SIGTERM ``role`` (the worker forwards one TERM to Dramatiq); seconds until it exited."""
        return self.launcher.stop(role, timeout_s)

    def shutdown(self) -> None:
        """End every process of the test at once (SIGKILL): a test over has nothing left to finish.

        A graceful stop is a scenario of its own (``stop``; tests/acceptance/test_procfile.py),
        and waiting for one at every teardown cost ~2 s a test.
        """
        self.launcher.kill()

    def output(self, chars: int = 4000) -> str:
        return self.launcher.output(chars)

    def log(self, role: str) -> str:
        return self.launcher.log(role)

    # -- the database ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def sql(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with psycopg.connect(self.url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
            yield conn

    def rows(self) -> list[dict[str, Any]]:
        with self.sql() as conn:
            return conn.execute(
                "SELECT id, task, payload, ordering_key, status, attempts, last_error, result,"
                " run_after, lease_until FROM credsync.outbox ORDER BY id"
            ).fetchall()

    def statuses(self) -> collections.Counter[str]:
        with self.sql() as conn:
            return collections.Counter(
                {
                    r["status"]: r["n"]
                    for r in conn.execute("SELECT status, count(*) AS n FROM credsync.outbox GROUP BY status")
                }
            )

    def now(self) -> datetime.datetime:
        """The database server's clock (the audit table's clock)."""
        with self.sql() as conn:
            row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
        assert row is not None
        return row["now"]  # type: ignore[no-any-return]

    def audit(self) -> list[dict[str, Any]]:
        with self.sql() as conn:
            return conn.execute("SELECT * FROM public.fault_audit ORDER BY seq").fetchall()

    def back_running_after(self, ids: Iterable[int], since: datetime.datetime) -> dict[int, float]:
        """Seconds from ``since`` until each row next became ``running`` (rows that did)."""
        ids = set(ids)
        back: dict[int, float] = {}
        for step in self.audit():
            if step["row_id"] in ids and step["new_status"] == "running" and step["at"] > since:
                back.setdefault(step["row_id"], (step["at"] - since).total_seconds())
        return back

    def _safe_statuses(self) -> collections.Counter[str] | None:
        try:
            return self.statuses()
        except psycopg.OperationalError:
            return None  # the server is restarting: ask again later

    def wait_for_statuses(
        self, condition: Callable[[collections.Counter[str]], bool], what: str, timeout_s: float = 60
    ) -> None:
        def holds() -> bool:
            counts = self._safe_statuses()
            return counts is not None and condition(counts)

        processes.wait_until(holds, timeout_s, what, self.report, interval_s=0.05)

    def wait_settled(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        self.wait_for_statuses(
            lambda c: sum(c.values()) > 0 and all(s in invariants.FINISHED for s in c),
            "every row to be done or failed",
            timeout_s,
        )

    def report(self) -> str:
        try:
            counts = dict(self.statuses())
            with self.sql() as conn:
                unsettled = conn.execute(
                    "SELECT id, task, ordering_key, status, attempts, lease_until, run_after, last_error"
                    " FROM credsync.outbox WHERE status NOT IN ('done', 'failed') ORDER BY id LIMIT 10"
                ).fetchall()
        except psycopg.Error as exc:
            counts, unsettled = {"(database unavailable)": 0}, [{"error": str(exc)}]
        alive = {role: p.alive() for role, p in self.processes.items()}
        return (
            f"statuses: {counts}\nfirst unsettled rows: {unsettled}\n"
            f"processes alive: {alive}\n{self.output()}"
        )

    # -- the invariants --------------------------------------------------------------------------

    def check_invariants(
        self, inserted: Iterable[int], *, may_fail: Iterable[int] = (), follow_ups: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Assert that nothing was lost (``invariants.check``); returns the final rows."""
        return invariants.check(self, inserted, may_fail=may_fail, follow_ups=follow_ups)
