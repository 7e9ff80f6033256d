"""The fault-injection harness: private Postgres and Redis, the real processes, and the invariants.

Everything here is real: a throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``, restartable on
its port), a foreground ``redis-server``, the Credentials emulator over HTTP, and the ``credsync``
worker, scanner and scheduler as separate processes. A test kills, flushes and restarts them, then
``System.check_invariants`` proves that nothing was lost: every row settled, none lost or duplicated,
one running row per ordering key at a time in insert order, each row's status path legal, and the
emulator holding exactly the host's truth.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psycopg
import psycopg.rows
import pytest
import redis

from tests.platform import Platform
from worker import migrate, tasks
from worker.emulator import server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CREDSYNC = str(BIN / "credsync")

#: The documented recovery bound with ``CREDSYNC_LEASE_S=3``: lease + scan interval + slack.
LEASE_S = 3
RECOVERY_BOUND_S = 15.0
#: How long a whole drain may take before a wait gives up (a deadline, not a measurement).
SETTLE_TIMEOUT_S = 90.0

FINISHED = ("done", "failed")
IN_FLIGHT = ("enqueued", "running", "retrying")
#: Every status change the machinery may make (README "Reading sync state", sql/queries.sql).
LEGAL_TRANSITIONS = frozenset(
    {
        ("pending", "enqueued"),  # claim
        ("enqueued", "pending"),  # release after a failed send; lease rescue
        ("enqueued", "running"),  # start
        ("enqueued", "failed"),  # unknown task; message dead before its first attempt
        ("running", "done"),
        ("running", "retrying"),
        ("running", "failed"),  # permanent error, retries exhausted, lost past its budget
        ("running", "pending"),  # lease rescue of a lost attempt
        ("retrying", "running"),
        ("retrying", "failed"),
        ("retrying", "pending"),  # lease rescue of a lost retry message
        ("failed", "pending"),  # `credsync retry`
    }
)

#: Measured recovery times, printed in the terminal summary by tests/faults/conftest.py.
MEASUREMENTS: list[str] = []


def record_measurement(line: str) -> None:
    MEASUREMENTS.append(line)
    print(line)


# -- utilities -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    context: Callable[[], str] = lambda: "",
    interval_s: float = 0.1,
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` and ``context()`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval_s)


def seconds_to_next_minute() -> float:
    """Wall-clock seconds until the next minute starts (when periodiq's ``* * * * *`` tick fires)."""
    return 60.0 - time.time() % 60.0


def sleep_until_seconds_to_next_minute(low: float, high: float) -> None:
    """Sleep until the next minute is between ``low`` and ``high`` seconds away (``high - low`` ≥ 0.2).

    Used to place a fault around (or away from) the scheduler's minute tick; at most a minute.
    """
    while not low < seconds_to_next_minute() <= high:
        time.sleep(0.05)


def _tail(path: Path, chars: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no output: {exc})"
    return text[-chars:]


# -- PostgreSQL ----------------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in a temp dir, on a free port, that tests may stop and start."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            pytest.skip(
                "the fault tests need the PostgreSQL server binaries (initdb, pg_ctl): "
                "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql)"
            )
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="credsync-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        # initdb and pg_ctl refuse to run as root: run them as the postgres system user.
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def admin_url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as_user, str(self.bindir / program), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\nserver log:\n{_tail(self.dir / 'server.log', 3000)}"
            )

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), *args)

    def up(self) -> None:
        """Start the server (again) on its port and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200 -c synchronous_commit=off"
        )
        self._pg_ctl("-l", str(self.dir / "server.log"), "-w", "-t", "30", "-o", options, "start")

    def down(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (disconnect clients, clean shutdown) or ``immediate`` (crash)."""
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.down("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        return _tail(self.dir / "server.log", chars)


# -- Redis ---------------------------------------------------------------------------------------


class PrivateRedis:
    """A foreground ``redis-server`` without persistence, on a free port, that tests may crash."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("the fault tests need redis-server: install Redis (apt-get install redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="credsync-faults-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = (self.dir / "redis.log").open("ab")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        process = subprocess.Popen(
            [self.binary, "--port", str(self.port), *options],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            self._answers, 10, "the private Redis to answer", lambda: _tail(self.dir / "redis.log", 2000)
        )
        return process

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2)

    def _answers(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    def flushall(self) -> None:
        client = self.client()
        try:
            client.flushall()
        finally:
            client.close()

    def crash(self) -> None:
        """SIGKILL the server: every connection cut, every message gone (no persistence)."""
        self.process.kill()
        self.process.wait()

    def start_again(self) -> None:
        """Start an empty server on the same port."""
        self.process = self._spawn()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the database of a test ----------------------------------------------------------------------

AUDIT_SQL = """
CREATE TABLE public.fault_audit (
    seq          bigserial PRIMARY KEY,
    row_id       bigint NOT NULL,
    ordering_key text NOT NULL,
    old_status   text NOT NULL,
    new_status   text NOT NULL,
    attempts     int NOT NULL,
    at           timestamptz NOT NULL
);
CREATE FUNCTION public.fault_audit_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.fault_audit (row_id, ordering_key, old_status, new_status, attempts, at)
    VALUES (NEW.id, NEW.ordering_key, OLD.status, NEW.status, NEW.attempts, clock_timestamp());
    RETURN NULL;
END
$$;
CREATE TRIGGER fault_audit AFTER UPDATE OF status ON credsync.outbox
    FOR EACH ROW EXECUTE FUNCTION public.fault_audit_record();
"""


class Databases:
    """A migrated template (reference host tables, Credentials enabled, audit trigger) cloned per test."""

    def __init__(self, pg: PrivatePostgres) -> None:
        self.pg = pg
        self.prefix = f"faults_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tpl"
        self._counter = itertools.count(1)
        self._admin(f'CREATE DATABASE "{self.template}"')
        url = pg.url_for(self.template)
        migrate.run(url, host_schema="public", tasks=tasks.REGISTRY.registrations(), reference_host=True)
        with psycopg.connect(url, autocommit=True) as conn:
            Platform(conn).enable_credentials()
            conn.execute(AUDIT_SQL)  # type: ignore[arg-type]

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.pg.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create(self) -> str:
        name = f"{self.prefix}_{next(self._counter)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check_audit(audit: Sequence[Mapping[str, Any]], final_status: Mapping[int, str]) -> None:
    """Assert what the audit trail of status changes must show, whatever the faults were.

    Each row's path is continuous, starts ``pending``, uses only legal transitions and ends at the
    row's status; no two rows of one ordering key were ever ``running`` at the same time; and the
    rows of a key first started in insert (id) order. ``audit`` is in ``seq`` order.
    """
    paths: dict[int, list[Mapping[str, Any]]] = collections.defaultdict(list)
    for step in audit:
        paths[step["row_id"]].append(step)
    never = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    spans: dict[str, list[tuple[datetime.datetime, datetime.datetime, int]]] = collections.defaultdict(list)
    first_starts: dict[str, list[tuple[datetime.datetime, int]]] = collections.defaultdict(list)
    for row_id, path in paths.items():
        assert path[0]["old_status"] == "pending", f"row {row_id} did not start pending: {path}"
        for before, after in itertools.pairwise(path):
            assert before["new_status"] == after["old_status"], f"row {row_id}: broken path {path}"
        for step in path:
            pair = (step["old_status"], step["new_status"])
            assert pair in LEGAL_TRANSITIONS, f"row {row_id}: illegal transition {pair} in {path}"
        assert path[-1]["new_status"] == final_status.get(row_id), (
            f"row {row_id} is not where it went: {path}"
        )
        key = path[0]["ordering_key"]
        started: datetime.datetime | None = None
        for step in path:
            if step["new_status"] == "running":
                if not any(span[2] == row_id for span in spans[key]) and started is None:
                    first_starts[key].append((step["at"], row_id))
                started = step["at"]
            elif step["old_status"] == "running":
                assert started is not None
                spans[key].append((started, step["at"], row_id))
                started = None
        if started is not None:
            spans[key].append((started, never, row_id))
    for key, key_spans in spans.items():
        key_spans.sort()
        for (start_a, end_a, id_a), (start_b, _, id_b) in itertools.pairwise(key_spans):
            assert end_a <= start_b, (
                f"ordering key {key}: rows {id_a} and {id_b} were running at the same time "
                f"({id_a} from {start_a} to {end_a}, {id_b} from {start_b})"
            )
    for key, starts in first_starts.items():
        in_start_order = [row_id for _, row_id in sorted(starts)]
        assert in_start_order == sorted(in_start_order), (
            f"ordering key {key}: rows first started out of insert order: {in_start_order}"
        )


# -- the processes of a test ---------------------------------------------------------------------


@dataclasses.dataclass
class Process:
    """One ``credsync`` process (and, for a worker, the Dramatiq processes it runs)."""

    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None


READY_LINES = {
    "worker": "Worker process is ready for action.",
    "scanner": "scanner started",
    "scheduler": "scheduler started",
}


class System:
    """The credsync processes of one test, their database, broker queue and Credentials emulator."""

    def __init__(
        self,
        *,
        pg: PrivatePostgres,
        broker: PrivateRedis,
        database: str,
        emulator: server.Emulator,
        workdir: Path,
    ) -> None:
        self.pg = pg
        self.broker = broker
        self.database = database
        self.url = pg.url_for(database)
        self.emulator = emulator
        self.workdir = workdir
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.processes: dict[str, Process] = {}
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CREDSYNC_")}
        self.env: dict[str, str] = {
            **inherited,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
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
        }

    # -- processes -------------------------------------------------------------------------------

    def start(self, role: str, *args: str, wait_ready: bool = True) -> Process:
        """Start ``credsync <kind> args`` as ``role`` (kind = role without a trailing digit)."""
        if role in self.processes and self.processes[role].alive():
            raise RuntimeError(f"{role} is already running")
        kind = role.rstrip("0123456789")
        log_path = self.workdir / f"{role}.log"
        log_file = log_path.open("ab")
        log_file.write(f"\n===== start {role}: credsync {kind} {' '.join(args)}\n".encode())
        log_file.flush()
        env = {**self.env, "CREDSYNC_FAULTS_ROLE": role}
        popen = subprocess.Popen(
            [CREDSYNC, kind, *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(role, popen, log_path, log_file)
        self.processes[role] = process
        if wait_ready:
            self.wait_ready(role)
        return process

    def start_all(self, *, workers: int = 1, scanners: int = 1, schedulers: int = 1) -> None:
        roles = []
        for kind, count in (("worker", workers), ("scanner", scanners), ("scheduler", schedulers)):
            for n in range(count):
                role = kind if n == 0 else f"{kind}{n + 1}"
                args = ("-p", "1", "-t", "4") if kind == "worker" else ()
                self.start(role, *args, wait_ready=False)
                roles.append(role)
        for role in roles:
            self.wait_ready(role)

    def wait_ready(self, role: str, timeout_s: float = 30) -> None:
        process = self.processes[role]
        line = READY_LINES[role.rstrip("0123456789")]
        start = process.log_path.read_text(errors="replace").rfind("===== start")

        def ready() -> bool:
            if not process.alive():
                raise AssertionError(f"{role} exited with {process.popen.returncode}\n{self.output()}")
            return line in process.log_path.read_text(errors="replace")[start:]

        wait_until(ready, timeout_s, f"{role} to be ready", self.output)

    def pids(self, role: str | None = None) -> list[int]:
        """Processes carrying this test's queue marker (and ``role``'s marker) in their environment."""
        queue_marker = f"CREDSYNC_QUEUE={self.queue}".encode()
        role_marker = f"CREDSYNC_FAULTS_ROLE={role}".encode() if role else None
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if queue_marker in environ and (role_marker is None or role_marker in environ):
                found.append(int(proc.name))
        return found

    def kill(self, role: str | None = None) -> None:
        """SIGKILL every process of ``role`` (all of this test's when None), children included."""
        for _ in range(50):
            pids = self.pids(role)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for name, process in list(self.processes.items()):
            if role is None or name == role:
                self._reap(process)

    def stop(self, role: str, timeout_s: float = 15) -> float:
        """SIGTERM ``role`` (the worker forwards one TERM to Dramatiq); seconds until it exited."""
        process = self.processes[role]
        started = time.monotonic()
        if process.alive():
            process.popen.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=timeout_s)
        wait_until(lambda: not self.pids(role), timeout_s, f"{role} to exit", self.output)
        took = time.monotonic() - started
        self._reap(process)
        return took

    def shutdown(self) -> None:
        """Stop everything: one SIGTERM each, then SIGKILL what is left after a few seconds."""
        for process in self.processes.values():
            if process.alive():
                with contextlib.suppress(ProcessLookupError):
                    process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and self.pids():
            time.sleep(0.1)
        self.kill()

    def _reap(self, process: Process) -> None:
        try:
            process.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()
        if not process.log_file.closed:
            process.log_file.close()

    def output(self, chars: int = 4000) -> str:
        parts = [f"--- {role} (tail)\n{_tail(p.log_path, chars)}" for role, p in self.processes.items()]
        return "\n".join(parts) or "(no process output)"

    def log(self, role: str) -> str:
        return self.processes[role].log_path.read_text(errors="replace")

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

        wait_until(holds, timeout_s, what, self.report, interval_s=0.05)

    def wait_settled(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        self.wait_for_statuses(
            lambda c: sum(c.values()) > 0 and all(s in FINISHED for s in c),
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
        self,
        inserted: Iterable[int],
        *,
        may_fail: Iterable[int] = (),
        follow_ups: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """Assert that nothing was lost; returns the final rows.

        ``inserted``: the ids the host committed; ``may_fail``: rows the scenario expects may end
        failed; ``follow_ups``: tasks whose rows the workers themselves insert (subtasks).
        """
        rows = self.rows()
        by_id = {r["id"]: r for r in rows}
        inserted = set(inserted)
        context = self.report()
        # Every row done or failed.
        unsettled = [r for r in rows if r["status"] not in FINISHED]
        assert not unsettled, f"rows not settled: {unsettled[:5]}\n{context}"
        # None lost, none duplicated: exactly the host's rows (plus the subtasks the workers insert).
        assert len(by_id) == len(rows)
        missing = inserted - by_id.keys()
        assert not missing, f"rows lost: {sorted(missing)[:20]}"
        extra = [r for r in rows if r["id"] not in inserted and r["task"] not in set(follow_ups)]
        assert not extra, f"rows nobody inserted: {extra[:5]}"
        # No row failed unless the scenario expects it.
        unexpected = [r for r in rows if r["status"] == "failed" and r["id"] not in set(may_fail)]
        assert not unexpected, f"rows failed unexpectedly: {unexpected[:5]}\n{context}"
        for row in rows:
            if row["status"] == "failed":
                assert row["last_error"], f"row {row['id']} failed without a last_error: {row}"
        check_audit(self.audit(), {row_id: row["status"] for row_id, row in by_id.items()})
        self._check_credentials(rows)
        return rows

    def host_truth(self) -> dict[tuple[str, str], str]:
        """(learner, run) → the course certificate status Credentials must hold, from the host tables.

        For every certificate an ``award_course_certificate`` row was written for, in an eligible
        mode of a run with a course overview: ``awarded`` iff downloadable, else ``revoked``.
        """
        with self.sql() as conn:
            found = conn.execute(
                "SELECT u.username, c.course_id, c.status FROM certificates_generatedcertificate c"
                " JOIN auth_user u ON u.id = c.user_id"
                " WHERE c.mode IN ('verified', 'professional', 'no-id-professional', 'credit', 'honor')"
                "   AND c.status NOT IN ('audit_passing', 'audit_notpassing')"
                "   AND EXISTS (SELECT 1 FROM course_overviews_courseoverview co WHERE co.id = c.course_id)"
                "   AND EXISTS (SELECT 1 FROM credsync.outbox o WHERE o.task = 'award_course_certificate'"
                "               AND o.payload->'username' = to_jsonb(u.username)"
                "               AND o.payload->'course_run_key' = to_jsonb(c.course_id))"
            ).fetchall()
        return {
            (r["username"], r["course_id"]): "awarded" if r["status"] == "downloadable" else "revoked"
            for r in found
        }

    def held(self) -> dict[tuple[str, str], str]:
        """(learner, run) → the status of the course-run credential the emulator holds."""
        return {
            (c["username"], c["credential"]["course_run_key"]): c["status"]
            for c in self.emulator.credentials()
            if c["credential"]["type"] == "course-run"
        }

    def _check_credentials(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Credentials holds the host's truth for every (learner, run) whose latest row is done."""
        latest: dict[tuple[str, str], Mapping[str, Any]] = {}
        for row in sorted(rows, key=lambda r: r["id"]):
            username, run = row["payload"].get("username"), row["payload"].get("course_run_key")
            if (
                row["task"] == "award_course_certificate"
                and isinstance(username, str)
                and isinstance(run, str)
            ):
                latest[(username, run)] = row
        settled = {pair for pair, row in latest.items() if row["status"] == "done"}
        truth = {pair: status for pair, status in self.host_truth().items() if pair in settled}
        held = self.held()
        unasked = set(held) - set(latest)
        assert not unasked, f"Credentials holds certificates no row asked for: {sorted(unasked)[:10]}"
        held = {pair: status for pair, status in held.items() if pair in settled}
        wrong = {
            k: (truth.get(k), held.get(k)) for k in truth.keys() | held.keys() if truth.get(k) != held.get(k)
        }
        assert not wrong, f"Credentials differs from the host ((learner, run): (host, credentials)): {wrong}"

    def posts_per_learner(self) -> collections.Counter[tuple[str, str]]:
        """Answered credential POSTs per (learner, run), as the emulator recorded them."""
        return collections.Counter(
            (r["json"]["username"], r["json"]["credential"]["course_run_key"])
            for r in self.emulator.requests()
            if r["method"] == "POST" and r["path"] == server.CREDENTIALS_PATH and r["status"] == 201
        )

    def back_running_after(self, ids: Iterable[int], since: datetime.datetime) -> dict[int, float]:
        """Seconds from ``since`` until each row next became ``running`` (rows that did)."""
        ids = set(ids)
        back: dict[int, float] = {}
        for step in self.audit():
            if step["row_id"] in ids and step["new_status"] == "running" and step["at"] > since:
                back.setdefault(step["row_id"], (step["at"] - since).total_seconds())
        return back


# -- the host's side ------------------------------------------------------------------------------

RUNS = ("course-v1:edX+Fault1+2026", "course-v1:edX+Fault2+2026", "course-v1:edX+Fault3+2026")


def certificate_status(learner_index: int, run_index: int) -> str:
    """A deterministic mix: one certificate in three is not passing (a revocation)."""
    return "notpassing" if (learner_index + run_index) % 3 == 0 else "downloadable"


def add_course_runs(system: System, runs: Iterable[str] = RUNS) -> None:
    """The runs on the host, and in Credentials' catalog copy (else a course-run award answers 400)."""
    runs = list(runs)
    with system.sql() as conn:
        platform = Platform(conn)
        for run in runs:
            platform.course_run(run)
    system.emulator.add_course_runs(runs)


def host_awards(
    system: System,
    learners: Iterable[str],
    runs: Iterable[str] = RUNS,
    *,
    status: Callable[[int, int], str] = certificate_status,
) -> list[int]:
    """As a host: per learner and run, the certificate and its outbox row in one transaction."""
    ids = []
    runs = list(runs)
    with psycopg.connect(system.url) as conn:
        platform = Platform(conn)
        for i, username in enumerate(learners):
            with conn.transaction():
                learner = platform.learner(username)
            for j, run in enumerate(runs):
                with conn.transaction():
                    platform.certificate(learner["id"], run, status=status(i, j))
                    ids.append(
                        platform.enqueue(
                            "award_course_certificate", {"username": username, "course_run_key": run}
                        )
                    )
    return ids


def host_changes(system: System, changes: Iterable[tuple[str, str, str]]) -> list[int]:
    """As a host: change (learner, run) certificates to a status, each with its outbox row."""
    ids = []
    with psycopg.connect(system.url) as conn:
        platform = Platform(conn)
        for username, run, status in changes:
            with conn.transaction():
                conn.execute(
                    "UPDATE certificates_generatedcertificate SET status = %s, modified_date = now()"
                    " WHERE course_id = %s AND user_id = (SELECT id FROM auth_user WHERE username = %s)",
                    (status, run, username),
                )
                ids.append(
                    platform.enqueue(
                        "award_course_certificate", {"username": username, "course_run_key": run}
                    )
                )
    return ids
