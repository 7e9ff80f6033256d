"""credsync against what users run today: upstream's Celery task on Redis, on the same work, in one run.

One database with the bench's host data (``hostdata.prepare``), one emulator, one Redis. The work:
``rows`` certificate changes, one host transaction each, each for a fresh learner and bringing one
``award_course_certificate`` (so every POST creates a credential). Per side, two windows, each
repeated ``REPETITIONS`` times on fresh learners, the emulator reset before each:

* **end to end**: one host process (this one) makes the changes at full speed. credsync's host
  INSERTs the outbox row in the certificate's transaction; Celery's host commits the certificate,
  then calls ``.delay()`` (as a Django ``on_commit`` hook would). From the first transaction to the
  last accepted POST;
* **drain**: the same changes made while nothing takes them (credsync: sync paused by the host's
  Credentials config; Celery: the warm worker's consumer of the queue cancelled), from letting them
  go (config enabled; ``add_consumer``) to the last accepted POST.

The window's end is the last accepted POST's arrival as the emulator recorded it. CPU is the whole
machine's busy time (``env.machine_busy_s``, /proc/stat) from the window's start to the moment the
bench saw that POST: Postgres, Redis, the emulator, the workers and the host all count, on both
sides. Only one side's processes run at a time. After each window every learner of the window must
have exactly one accepted POST, with the body the change calls for, and nobody else any: otherwise
the phase fails. credsync runs as the Procfile's ``worker`` and ``scanner`` lines; Celery as
``celery -A benchmarks.celery_upstream worker --pool prefork`` with one process per CPU. Before
credsync's processes start, the direct-call ceiling of the same work (``benchmarks.direct``),
``REPETITIONS`` times.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.metadata
import shlex
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from benchmarks import e2e, env, hostdata

REPETITIONS = 3
TASK = "award_course_certificate"
CREDENTIALS_PATH = "/api/v2/credentials/"
ACCEPTED = (200, 201)
POLL_S = 0.05
SETTLE_S = 0.5  # after the last POST, before the check: time for a late duplicate to show
PAUSE_SETTLE_S = 0.5  # longer than the scanner's 200 ms poll: a scan that read "enabled" is over
# Longer than kombu's 1 s BRPOP: a pop the cancelled consumer had in flight has come back.
CANCEL_SETTLE_S = 1.5
# The emulator's OAuth client (``credsync emulator`` defaults), for Celery's client-credentials token.
OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET = "credsync", "credsync-secret"
# The level edx-platform's deployments run their Celery workers at (credsync runs at its default, INFO).
CELERY_LOG_LEVEL = "INFO"


@dataclasses.dataclass(frozen=True)
class Learner:
    id: int
    username: str
    course_run_key: str


class Host:
    """The host platform: fresh learners, then one transaction per certificate change."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._next = 0

    def learners(self, count: int) -> list[Learner]:
        """``count`` new users, each to earn a certificate in one of the programs' runs."""
        first, self._next = self._next, self._next + count
        found = self.conn.execute(
            "INSERT INTO auth_user (username, email)"
            " SELECT 'versus' || n, 'versus' || n || '@example.com'"
            " FROM generate_series(%s::int, %s::int) AS n RETURNING id, username",
            (first, first + count - 1),
        ).fetchall()
        return [
            Learner(r["id"], r["username"], hostdata.run_key(int(r["username"][6:]) % hostdata.LEARNER_RUNS))
            for r in found
        ]

    def award(
        self,
        learners: Sequence[Learner],
        *,
        outbox: bool,
        after_commit: Callable[[Learner], object] | None = None,
    ) -> float:
        """Each learner's certificate is generated, downloadable: one transaction each, with its
        outbox row (``outbox``) or followed by ``after_commit``. Returns the seconds it took."""
        started = time.monotonic()
        for learner in learners:
            with self.conn.transaction():
                self.conn.execute(
                    "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
                    " VALUES (%s, %s, 'verified', 'downloadable')",
                    (learner.id, learner.course_run_key),
                )
                if outbox:
                    self.conn.execute(
                        "INSERT INTO credsync.outbox (task, payload) VALUES (%s, %s)",
                        (
                            TASK,
                            Jsonb({"username": learner.username, "course_run_key": learner.course_run_key}),
                        ),
                    )
            if after_commit is not None:
                after_commit(learner)
        return time.monotonic() - started


@dataclasses.dataclass(frozen=True)
class Window:
    """One measured repetition."""

    rows: int
    seconds: float
    cpu_s: float
    host_s: float | None  # the host's own time to make the changes, when they are in the window
    refused_posts: int
    token_requests: int

    def figures(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds, 1),
            "cpu_ms_per_row": round(self.cpu_s * 1000 / self.rows, 3),
            "host_seconds": None if self.host_s is None else round(self.host_s, 3),
            "refused_posts": self.refused_posts,
            "token_requests": self.token_requests,
        }


def fresh(emulator: env.Emulator) -> None:
    """The emulator as new (nothing recorded, no credentials), with the bench's Credentials catalog."""
    emulator.admin.reset()
    hostdata.prepare_emulator(emulator.admin)


def accepted_posts(stats: dict[str, Any]) -> int:
    return sum(
        stats.get("by_endpoint", {}).get(f"POST {CREDENTIALS_PATH} {status}", 0) for status in ACCEPTED
    )


def one_accepted_post_each(
    records: Sequence[dict[str, Any]], learners: Sequence[Learner], what: str
) -> float:
    """When the last accepted POST arrived; RuntimeError unless each learner got exactly one accepted
    POST, awarding their certificate in their run, and nobody else got any."""
    expected = {learner.username: learner.course_run_key for learner in learners}
    accepted = [
        r
        for r in records
        if r["method"] == "POST" and r["path"] == CREDENTIALS_PATH and r["status"] in ACCEPTED
    ]
    bodies = [r["json"] if isinstance(r["json"], dict) else {} for r in accepted]
    counts = collections.Counter(str(body.get("username")) for body in bodies)
    missing = sorted(set(expected) - set(counts))
    repeated = sorted(name for name, n in counts.items() if n > 1)
    strangers = sorted(set(counts) - set(expected))
    wrong = sorted(
        body["username"]
        for body in bodies
        if body.get("username") in expected
        and (body.get("status"), (body.get("credential") or {}).get("course_run_key"))
        != ("awarded", expected[body["username"]])
    )
    if missing or repeated or strangers or wrong:
        raise RuntimeError(
            f"{what}: not one accepted POST per learner ({len(expected)} learners):"
            f" {len(missing)} got none {missing[:5]}, {len(repeated)} got more than one {repeated[:5]},"
            f" {len(strangers)} not of this window {strangers[:5]},"
            f" {len(wrong)} with a wrong body {wrong[:5]}"
        )
    return max(float(r["at"]) for r in accepted)


def measure_window(
    emulator: env.Emulator, learners: Sequence[Learner], release: Callable[[], float | None], what: str
) -> Window:
    """Run ``release`` (the host's changes, or letting prefilled ones go) and wait for every POST."""
    cpu_before = env.machine_busy_s()
    started = time.time()
    host_s = release()
    env.wait_until(
        lambda: accepted_posts(emulator.admin.stats()) >= len(learners),
        max(60.0, len(learners) / 10),
        f"{what}: {len(learners)} accepted POSTs",
        poll_s=POLL_S,
    )
    cpu_s = env.machine_busy_s() - cpu_before
    time.sleep(SETTLE_S)
    last = one_accepted_post_each(emulator.admin.requests(), learners, what)
    stats = emulator.admin.stats()
    refused = sum(
        n
        for endpoint, n in stats.get("by_endpoint", {}).items()
        if endpoint.startswith(f"POST {CREDENTIALS_PATH} ")
        and endpoint.rsplit(" ", 1)[1] not in {str(s) for s in ACCEPTED}
    )
    return Window(len(learners), last - started, cpu_s, host_s, refused, stats.get("token", 0))


def summary(windows: Sequence[Window]) -> dict[str, Any]:
    """Medians over the repetitions, and each repetition's figures."""
    runs = [w.figures() for w in windows]
    return {
        "rows_per_s": round(statistics.median(r["rows_per_s"] for r in runs), 1),
        "cpu_ms_per_row": round(statistics.median(r["cpu_ms_per_row"] for r in runs), 3),
        "runs": runs,
    }


def ceiling(system: env.System, host: Host, rows: int) -> dict[str, Any]:
    """The handlers called directly on the same work (``e2e.direct_ceiling``), before any process runs."""
    runs = []
    for repetition in range(1, REPETITIONS + 1):
        learners = host.learners(rows)
        host.award(learners, outbox=True)
        fresh(system.emulator)
        found = e2e.direct_ceiling(system)
        time.sleep(SETTLE_S)
        one_accepted_post_each(system.emulator.admin.requests(), learners, f"direct calls, run {repetition}")
        # Done with: the outbox's processes must not send these again.
        host.conn.execute("DELETE FROM credsync.outbox")
        runs.append(
            {
                "rows": found["rows"],
                "seconds": round(found["seconds"], 3),
                "rows_per_s": round(found["rows_per_s"], 1),
            }
        )
    return {
        "rows_per_s": round(statistics.median(r["rows_per_s"] for r in runs), 1),
        "processes": e2e.processes(),
        "threads": e2e.THREADS,
        "runs": runs,
    }


def credsync_side(system: env.System, host: Host, rows: int) -> dict[str, Any]:
    """The Procfile's worker and scanner lines, default settings."""
    system.start("worker", "scanner")
    windows: dict[str, list[Window]] = {"e2e": [], "drain": []}
    try:
        for repetition in range(1, REPETITIONS + 1):
            learners = host.learners(rows)
            fresh(system.emulator)
            windows["e2e"].append(
                measure_window(
                    system.emulator,
                    learners,
                    lambda learners=learners: host.award(learners, outbox=True),
                    f"credsync end to end, run {repetition}",
                )
            )
            e2e.set_enabled(host.conn, False)
            time.sleep(PAUSE_SETTLE_S)
            last = host.conn.execute("SELECT coalesce(max(id), 0) AS id FROM credsync.outbox").fetchone()
            learners = host.learners(rows)
            host.award(learners, outbox=True)
            waiting = host.conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'pending') AS n FROM credsync.outbox WHERE id > %s",
                (last["id"] if last else 0,),
            ).fetchone()
            if waiting is None or waiting["n"] != rows:
                raise RuntimeError(f"credsync drain: {rows} rows prefilled, but only {waiting} waited")
            fresh(system.emulator)
            windows["drain"].append(
                measure_window(
                    system.emulator,
                    learners,
                    lambda: _enable(host),
                    f"credsync drain, run {repetition}",
                )
            )
    finally:
        system.stop()
    return {
        "e2e": summary(windows["e2e"]),
        "drain": summary(windows["drain"]),
        "one_post_per_learner": True,  # every window passed one_accepted_post_each
        "processes": "Procfile worker + scanner",
        "worker_processes": e2e.processes(),
        "worker_threads": e2e.THREADS,
    }


def _enable(host: Host) -> None:
    e2e.set_enabled(host.conn, True)


def celery_side(system: env.System, host: Host, rows: int, log_dir: Path) -> dict[str, Any]:
    """``celery worker --pool prefork`` with one process per CPU, on the same Redis server."""
    from benchmarks import celery_upstream  # the bench extra: only this phase needs it

    run = uuid.uuid4().hex[:8]
    prefix, queue, node = f"credsync-bench-upstream-{run}:", f"upstream-{run}", f"upstream-{run}"
    settings = {
        celery_upstream.BROKER_URL: env.redis_url(),
        celery_upstream.KEY_PREFIX: prefix,
        celery_upstream.QUEUE: queue,
        celery_upstream.DATABASE_URL: system.database_url,
        celery_upstream.CREDENTIALS_URL: system.emulator.url,
        celery_upstream.OAUTH_CLIENT_ID: OAUTH_CLIENT_ID,
        celery_upstream.OAUTH_CLIENT_SECRET: OAUTH_CLIENT_SECRET,
        celery_upstream.SERVICE_USERNAME: env.SERVICE_USERNAME,
    }
    celery_upstream.configure(settings)
    app, task = celery_upstream.app, celery_upstream.award_course_certificate
    destination = [f"{node}@{socket.gethostname()}"]
    command = (
        f"exec {shlex.quote(str(env.BIN / 'celery'))} -A benchmarks.celery_upstream worker"
        f" --pool prefork --concurrency {e2e.processes()} --loglevel {CELERY_LOG_LEVEL} --hostname {node}@%h"
    )
    worker = env.Process(
        "celery", command, {**system.env, **settings, "PYTHONPATH": str(env.ROOT / "scripts")}, log_dir
    )
    broker = redis.Redis.from_url(env.redis_url())

    def delay(learner: Learner) -> None:
        task.delay(learner.username, learner.course_run_key)

    def control(command: str) -> None:
        replies = getattr(app.control, command)(queue, destination=destination, reply=True, timeout=10)
        if not any("ok" in answer for reply in replies for answer in reply.values()):
            raise RuntimeError(f"celery {command} {queue}: no worker agreed ({replies})")

    windows: dict[str, list[Window]] = {"e2e": [], "drain": []}
    try:

        def ready() -> bool:
            if worker.popen.poll() is not None:
                raise RuntimeError(f"the celery worker exited:\n{worker.log_tail()}")
            return f"{destination[0]} ready." in worker.log_tail(1_000_000)

        env.wait_until(ready, 60, "the celery worker to be ready")
        if not app.control.ping(
            destination=destination, timeout=10
        ):  # also opens the host's broker connection
            raise RuntimeError(f"the celery worker does not answer:\n{worker.log_tail()}")
        for repetition in range(1, REPETITIONS + 1):
            learners = host.learners(rows)
            fresh(system.emulator)
            windows["e2e"].append(
                measure_window(
                    system.emulator,
                    learners,
                    lambda learners=learners: host.award(learners, outbox=False, after_commit=delay),
                    f"celery end to end, run {repetition}",
                )
            )
            control("cancel_consumer")
            time.sleep(CANCEL_SETTLE_S)
            learners = host.learners(rows)
            host.award(learners, outbox=False, after_commit=delay)
            queued = broker.llen(prefix + queue)
            if queued != rows:
                raise RuntimeError(f"celery drain: {rows} messages sent, {queued} in the queue")
            fresh(system.emulator)
            windows["drain"].append(
                measure_window(
                    system.emulator,
                    learners,
                    lambda: control("add_consumer"),
                    f"celery drain, run {repetition}",
                )
            )
    finally:
        worker.stop()
        app.close()
        for key in broker.scan_iter(match=f"{prefix}*"):
            broker.delete(key)
        broker.close()
    return {
        "e2e": summary(windows["e2e"]),
        "drain": summary(windows["drain"]),
        "one_post_per_learner": True,  # every window passed one_accepted_post_each
        "processes": "celery worker --pool prefork",
        "worker_processes": e2e.processes(),
        "log_level": CELERY_LOG_LEVEL,
        "celery": importlib.metadata.version("celery"),
        "kombu": importlib.metadata.version("kombu"),
    }


def measure(*, rows: int, log_dir: Path) -> dict[str, Any]:
    with (
        env.database() as url,
        psycopg.connect(url, row_factory=dict_row, autocommit=True, options="-c search_path=public") as conn,
    ):
        emulator = env.Emulator(log_dir)
        system = env.System(url, emulator, log_dir)
        host = Host(conn)
        try:
            hostdata.prepare(url, emulator.admin)
            direct = ceiling(system, host, rows)
            credsync = credsync_side(system, host, rows)
            celery = celery_side(system, host, rows, log_dir)
        finally:
            system.stop()
            emulator.close()
    return {
        "versus": {
            "rows": rows,
            "repetitions": REPETITIONS,
            "task": TASK,
            "credsync": credsync,
            "celery": celery,
            "ceiling": direct,
            "ratio": {
                f"{window}.{figure}": round(credsync[window][figure] / celery[window][figure], 3)
                for window in ("e2e", "drain")
                for figure in ("rows_per_s", "cpu_ms_per_row")
            },
            "e2e_of_ceiling": round(credsync["e2e"]["rows_per_s"] / direct["rows_per_s"], 3),
        }
    }
