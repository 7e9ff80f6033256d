"""Metrics: the outbox gauges on a real database, the worker's counters, and the hooks that feed them."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import prometheus_client
import pydantic
import pytest
from dramatiq.brokers.stub import StubBroker
from prometheus_client import multiprocess, parser

from tests.harness import Pipeline
from worker import broker as brokers
from worker import db, errors, outcomes, settings
from worker.metrics import exporter, exposition, scanning, workers
from worker.outbox import cooldowns, handlers, repository, scanner

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _insert(sql: Any, name: str, status: str, *, created_s: float, run_after_s: float = 0.0) -> int:
    """A probe row in ``status``, inserted ``created_s`` before NOW and due ``run_after_s`` after NOW."""
    row = sql.execute(
        "INSERT INTO credsync.outbox (task, payload) VALUES ('probe', %s) RETURNING id",
        (json.dumps({"name": name}),),
    ).fetchone()
    finished = NOW if status in ("done", "failed") else None
    lease = NOW + datetime.timedelta(seconds=60) if status in ("enqueued", "running", "retrying") else None
    sql.execute(
        "UPDATE credsync.outbox SET status = %s, created_at = %s, run_after = %s, finished_at = %s,"
        " lease_until = %s WHERE id = %s",
        (
            status,
            NOW - datetime.timedelta(seconds=created_s),
            NOW + datetime.timedelta(seconds=run_after_s),
            finished,
            lease,
            row["id"],
        ),
    )
    return int(row["id"])


@pytest.fixture
def probe_task(sql: Any) -> None:
    sql.execute(
        "INSERT INTO credsync.task (name, required_keys, ordering_scope, ordering_keys)"
        " VALUES ('probe', '{name}', 'probe', '{name}') ON CONFLICT DO NOTHING"
    )


def _scrape(collector: scanning.OutboxCollector) -> prometheus_client.CollectorRegistry:
    registry = prometheus_client.CollectorRegistry()
    registry.register(collector)
    return registry


# -- the scanner's outbox gauges ----------------------------------------------------------------------


@pytest.mark.usefixtures("probe_task")
def test_the_outbox_gauges_count_rows_by_status_and_measure_the_waits(
    database: db.Database, sql: Any
) -> None:
    # Given rows in every status: ada's first pending row is the oldest and due 50 s ago; her second
    # was due 80 s ago but waits behind the first (same ordering key); cy's is not due yet
    _insert(sql, "ada", "pending", created_s=100, run_after_s=-50)
    _insert(sql, "ada", "pending", created_s=90, run_after_s=-80)
    _insert(sql, "cy", "pending", created_s=10, run_after_s=60)
    _insert(sql, "dan", "enqueued", created_s=20)
    _insert(sql, "eve", "running", created_s=20)
    _insert(sql, "fay", "retrying", created_s=20, run_after_s=30)
    for name in ("gil", "hal"):
        _insert(sql, name, "failed", created_s=500)
    for name in ("ian", "jo", "kim"):
        _insert(sql, name, "done", created_s=500)
    # When the collector is scraped
    registry = _scrape(scanning.OutboxCollector(database, lambda: None, clock=lambda: NOW))
    # Then the counts are exact (done rows are not counted), and so are the waits
    value = registry.get_sample_value
    assert {s: value("credsync_outbox_rows", {"status": s}) for s in scanning.COUNTED_STATUSES} == {
        "pending": 3,
        "enqueued": 1,
        "running": 1,
        "retrying": 1,
        "failed": 2,
    }
    assert value("credsync_outbox_rows", {"status": "done"}) is None
    assert value("credsync_outbox_oldest_pending_age_seconds") == 100
    # (the row waiting behind an earlier row of its ordering key is not claim lag)
    assert value("credsync_outbox_claim_lag_seconds") == 50
    assert value("credsync_processing_paused") == 0
    assert value("credsync_metrics_scrape_error") == 0


def test_an_empty_outbox_has_zero_counts_and_waits(database: db.Database) -> None:
    registry = _scrape(scanning.OutboxCollector(database, lambda: None))
    value = registry.get_sample_value
    assert [value("credsync_outbox_rows", {"status": s}) for s in scanning.COUNTED_STATUSES] == [0] * 5
    assert value("credsync_outbox_oldest_pending_age_seconds") == 0
    assert value("credsync_outbox_claim_lag_seconds") == 0
    assert value("credsync_metrics_scrape_error") == 0


def test_processing_paused_follows_the_scanner_gate(database: db.Database) -> None:
    registry = _scrape(scanning.OutboxCollector(database, lambda: "the config is disabled"))
    assert registry.get_sample_value("credsync_processing_paused") == 1


def test_a_failing_query_is_a_scrape_error_not_a_failed_scrape(database: db.Database, sql: Any) -> None:
    # Given an outbox the queries cannot read, and a gate that fails
    sql.execute("ALTER TABLE credsync.outbox RENAME TO outbox_elsewhere")

    def broken_gate() -> str | None:
        raise errors.DatabaseError("connection lost")

    # When scraped, Then the scrape succeeds, says it is incomplete, and shows nothing stale
    output = prometheus_client.generate_latest(_scrape(scanning.OutboxCollector(database, broken_gate)))
    text = output.decode()
    assert "credsync_metrics_scrape_error 1.0" in text
    assert "credsync_outbox_rows" not in text
    assert "credsync_processing_paused" not in text


def test_a_scrape_blocked_by_a_lock_gives_up_after_its_statement_timeout(
    database: db.Database, database_url: str
) -> None:
    import psycopg

    # Given a session holding an exclusive lock on the outbox
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE credsync.outbox IN ACCESS EXCLUSIVE MODE")
        collector = scanning.OutboxCollector(database, lambda: None, timeout_ms=300)
        # When scraped, Then the scrape ends soon, with an error instead of the outbox gauges
        started = time.monotonic()
        registry = _scrape(collector)
        assert registry.get_sample_value("credsync_metrics_scrape_error") == 1
        assert time.monotonic() - started < 5
        blocker.rollback()


def test_the_scanner_counts_claimed_and_rescued_rows(database: db.Database, sql: Any) -> None:
    # Given two due rows, and one row in flight whose lease expired
    sql.execute(
        "INSERT INTO credsync.outbox (task, payload) VALUES"
        " ('award_program_certificates', '{\"username\": \"ada\"}'),"
        " ('award_program_certificates', '{\"username\": \"bob\"}'),"
        " ('award_program_certificates', '{\"username\": \"cy\"}')"
    )
    sql.execute(
        "UPDATE credsync.outbox SET status = 'enqueued', lease_until = now() - interval '1 minute'"
        " WHERE payload ->> 'username' = 'cy'"
    )
    exported = scanning.ScannerMetrics()
    sent: list[int] = []
    scan = scanner.Scanner(
        repository.Outbox(database, lease_s=30),
        lambda claimed: sent.extend(row.id for row in claimed),
        known_tasks={"award_program_certificates"},
        gate=lambda: None,
        batch=10,
        max_in_flight=100,
        max_retries=3,
        rescue_every_s=60,
        observe=exported.observe,
    )
    # When the scanner makes one pass (rescue first, then the claim: the rescued row goes too)
    scan.run_once(rescue=True)
    # Then its counters say so
    assert exported.registry.get_sample_value("credsync_scanner_claimed_total") == 3
    assert exported.registry.get_sample_value("credsync_scanner_rescued_total") == 1
    assert len(sent) == 3


# -- the worker's counters ----------------------------------------------------------------------------


def test_worker_metrics_count_http_exchanges_and_row_outcomes() -> None:
    registry = prometheus_client.CollectorRegistry()
    counters = workers.WorkerMetrics(registry)
    url = "http://credentials.test/api/v2/credentials/"
    # When the client reports exchanges, and rows finish
    counters.http_exchange("POST", url, 201, 12, None)
    counters.http_exchange("POST", url, 201, 15, None)
    counters.http_exchange("POST", url, None, 5000, "timeout")
    counters.row_outcome("award_course_certificate", "done", 1.5)
    counters.row_outcome("award_course_certificate", "retrying", None)
    counters.row_outcome("award_course_certificate", "failed", 7200.0)
    # Then
    value = registry.get_sample_value
    assert value("credsync_http_requests_total", {"method": "POST", "status": "201"}) == 2
    assert value("credsync_http_requests_total", {"method": "POST", "status": "none"}) == 1
    done = {"task": "award_course_certificate", "outcome": "done"}
    assert value("credsync_rows_total", done) == 1
    assert value("credsync_rows_total", {**done, "outcome": "retrying"}) == 1
    assert value("credsync_row_latency_seconds_count", done) == 1
    assert value("credsync_row_latency_seconds_sum", done) == 1.5
    assert value("credsync_row_latency_seconds_bucket", {**done, "le": "1.0"}) == 0
    assert value("credsync_row_latency_seconds_bucket", {**done, "le": "2.5"}) == 1
    # A retry has no latency; a row slower than the last bucket lands in +Inf only
    assert value("credsync_row_latency_seconds_count", {**done, "outcome": "retrying"}) is None
    failed = {**done, "outcome": "failed"}
    assert value("credsync_row_latency_seconds_bucket", {**failed, "le": "3600.0"}) == 0
    assert value("credsync_row_latency_seconds_bucket", {**failed, "le": "+Inf"}) == 1


def test_tee_tells_every_observer_even_when_one_fails() -> None:
    heard: list[tuple[str, int | None]] = []

    def broken(method: str, url: str, status: int | None, duration_ms: int, error: str | None) -> None:
        raise RuntimeError("ledger down")

    def listening(method: str, url: str, status: int | None, duration_ms: int, error: str | None) -> None:
        heard.append((method, status))

    workers.tee(broken, listening)("GET", "http://x/", 200, 1, None)
    assert heard == [("GET", 200)]


# -- the hooks, through the real pipeline ------------------------------------------------------------


class ProbePayload(pydantic.BaseModel):
    name: str
    behaviour: str = "ok"


def _probe(deps: object, payload: ProbePayload) -> outcomes.Outcome:
    if payload.behaviour == "permanent":
        raise errors.PermanentSyncError("the data is wrong")
    if payload.behaviour == "transient":
        raise errors.TransientSyncError("service unavailable")
    if payload.behaviour == "cooldown":
        raise errors.DeferredSyncError("asked to wait", until=time.time() + 3600)
    return outcomes.Sent({"name": payload.name})


class Outcomes:
    def __init__(self) -> None:
        self.heard: list[tuple[str, str, float | None]] = []
        self.lock = threading.Lock()

    def __call__(self, task: str, outcome: str, latency_s: float | None) -> None:
        with self.lock:
            self.heard.append((task, outcome, latency_s))

    def of(self, outcome: str) -> list[float | None]:
        return [latency for _, o, latency in self.heard if o == outcome]


@pytest.fixture
def pipeline(database: db.Database, probe_task: None) -> Iterator[Pipeline]:
    registry = handlers.Registry(
        [handlers.TaskSpec("probe", ProbePayload, _probe, ("name",), "probe", ("name",))]
    )
    p = Pipeline(database, registry, None, max_retries=2)
    yield p
    p.stop()


def test_the_pipeline_reports_every_row_outcome_with_the_latency_of_finished_rows(
    pipeline: Pipeline, sql: Any
) -> None:
    # Given a hook on the runtime, and rows that succeed, fail at once, exhaust their retries, or
    # meet a cooldown
    heard = Outcomes()
    pipeline.runtime.on_outcome = heard
    rows = [("a", "ok"), ("b", "ok"), ("c", "permanent"), ("d", "transient"), ("e", "cooldown")]
    for name, behaviour in rows:
        sql.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES ('probe', %s)",
            (json.dumps({"name": name, "behaviour": behaviour}),),
        )
    # When the outbox is processed (the deferred row waits an hour: stop before it comes back)
    for _ in range(20):
        pipeline.scanner.run_once(rescue=False)
        pipeline.process()
        if len(heard.of("done")) + len(heard.of("failed")) == 4:
            break
    # Then each outcome was reported once per row or attempt, with the task's name
    assert sorted({task for task, _, _ in heard.heard}) == ["probe"]
    assert len(heard.of("done")) == 2
    assert len(heard.of("failed")) == 2  # permanent at once, transient after 2 retries
    assert heard.of("retrying") == [None, None]
    assert heard.of("deferred") == [None]
    # And finished rows carry their insert → finish latency, as the rows themselves say
    with sql.cursor() as cur:
        expected = sorted(
            r["s"]
            for r in cur.execute(
                "SELECT extract(epoch FROM finished_at - created_at)::float8 AS s FROM credsync.outbox"
                " WHERE status IN ('done', 'failed')"
            )
        )
    observed = sorted(s for s in heard.of("done") + heard.of("failed") if s is not None)
    assert observed == pytest.approx(expected, abs=1e-6)
    assert all(0 <= s < 30 for s in observed)


def test_a_failing_outcome_hook_never_changes_a_row(pipeline: Pipeline, sql: Any) -> None:
    def broken(task: str, outcome: str, latency_s: float | None) -> None:
        raise RuntimeError("metrics down")

    pipeline.runtime.on_outcome = broken
    row_id = sql.execute(
        "INSERT INTO credsync.outbox (task, payload) VALUES ('probe', '{\"name\": \"a\"}') RETURNING id"
    ).fetchone()["id"]
    pipeline.drain()
    assert pipeline.row(row_id)["status"] == "done"


def test_mark_done_and_mark_failed_tell_the_latency_only_when_they_finish_the_row(
    outbox: repository.Outbox, sql: Any
) -> None:
    row_id = outbox.insert("award_program_certificates", {"username": "ada"})
    sql.execute("UPDATE credsync.outbox SET status = 'running', attempts = 1 WHERE id = %s", (row_id,))
    heard: list[float] = []
    assert outbox.mark_done(row_id, 1, {"outcome": "sent"}, on_finished=heard.append)
    # A replay finds the row done: no second report
    assert not outbox.mark_done(row_id, 1, {"outcome": "sent"}, on_finished=heard.append)
    assert not outbox.mark_failed(row_id, 1, "late", on_finished=heard.append)
    assert len(heard) == 1
    assert heard[0] >= 0


# -- the broker ---------------------------------------------------------------------------------------


def _core(**overrides: Any) -> settings.CoreSettings:
    return settings.load_core({"DATABASE_URL": "postgresql://unused/x", **overrides})


def _exporters(broker: dramatiq.Broker) -> list[exporter.Exporter]:
    return [m for m in broker.middleware if isinstance(m, exporter.Exporter)]


def test_with_metrics_off_the_broker_has_no_exporter_and_nothing_listens() -> None:
    config = _core()
    assert config.metrics_port is None
    broker = brokers.build(config)
    try:
        assert _exporters(broker) == []
    finally:
        broker.close()


def test_with_metrics_on_the_broker_has_the_exporter_and_building_it_changes_nothing_yet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a temporary directory of its own
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    environment = dict(os.environ)
    # When a broker is built with metrics on
    broker = brokers.build(_core(CREDSYNC_METRICS_PORT="19300", CREDSYNC_QUEUE="q1"))
    try:
        # Then it has the exporter, whose fork is credsync's exposition process, and whose runs
        # go under a directory named after the queue and the port
        [middleware] = _exporters(broker)
        assert middleware.forks == [exposition.serve_worker_metrics]
        assert middleware.base_dir == tmp_path / "credsync-prometheus-q1-19300"
        # And until a worker process boots, nothing is set or made
        assert dict(os.environ) == environment
        assert list(tmp_path.iterdir()) == []
    finally:
        broker.close()


def test_before_process_boot_the_exporter_records_nothing(tmp_path: Path) -> None:
    # Given an exporter in a process Dramatiq did not boot (a scanner's broker)
    middleware = exporter.Exporter(tmp_path)
    retry = dramatiq.Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={"retries": 1})
    # When the process enqueues a retry, Then nothing fails and no file is written
    middleware.after_enqueue(StubBroker(), retry, 100)
    assert list(tmp_path.iterdir()) == []


#: A Dramatiq worker process, booted as Dramatiq boots one, with the exporter on a StubBroker. Two
#: messages succeed; one fails, is retried once, fails again and is dead-lettered; a fourth is held
#: in progress while the process prints a scrape of its run's files. Then the worker stops.
_WORKER_PROCESS = """
import sys, threading
from pathlib import Path

import dramatiq
from dramatiq.brokers.stub import StubBroker

from worker.metrics import exporter

broker = StubBroker()
broker.add_middleware(exporter.Exporter(Path(sys.argv[1])))
started, release = threading.Event(), threading.Event()


@dramatiq.actor(broker=broker, queue_name="q")
def ok():
    pass


@dramatiq.actor(broker=broker, queue_name="q", max_retries=1, min_backoff=100, max_backoff=100)
def flaky():
    raise RuntimeError("always")


@dramatiq.actor(broker=broker, queue_name="q")
def held():
    started.set()
    release.wait(30)


assert "prometheus_client" not in sys.modules
broker.emit_after("process_boot")
worker = dramatiq.Worker(broker, worker_timeout=50)
worker.start()
ok.send()
ok.send()
flaky.send()
broker.join("q", fail_fast=False)
worker.join()
held.send()
assert started.wait(30)

import prometheus_client
from prometheus_client import multiprocess

registry = prometheus_client.CollectorRegistry()
multiprocess.MultiProcessCollector(registry)  # the directory process boot set
print(prometheus_client.generate_latest(registry).decode())
release.set()
broker.join("q", fail_fast=False)
worker.join()
worker.stop()
assert "dramatiq.middleware.prometheus" not in sys.modules
"""


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_exporter_records_dramatiqs_message_metrics_in_the_files_of_the_run(tmp_path: Path) -> None:
    # Given a worker process with the exporter (its own interpreter: prometheus_client chooses
    # multiprocess mode when first imported, and this one imported it long ago)
    environment = {k: v for k, v in os.environ.items() if k != exporter.MULTIPROC_DIR_ENV}
    # When it processes its messages
    finished = subprocess.run(
        [sys.executable, "-c", _WORKER_PROCESS, str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    # Then its files are in the directory of its run, named after its parent (Dramatiq's main process)
    [run] = tmp_path.iterdir()
    assert run.name == str(os.getpid())
    # And while a message was held, the scrape counted it in progress, and nothing else
    during = _samples(finished.stdout)

    def labels(actor: str) -> frozenset[tuple[str, str]]:
        return frozenset({("queue_name", "q"), ("actor_name", actor)})

    assert during[("dramatiq_messages_inprogress", labels("held"))] == 1
    assert during[("dramatiq_messages_inprogress", labels("ok"))] == 0
    assert during[("dramatiq_delayed_messages_inprogress", labels("flaky"))] == 0
    # And the run's files have every message's outcome, under Dramatiq's names and labels; the
    # retry counted once, and every label names the queue, never its delay queue "q.DQ"
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(run))  # type: ignore[no-untyped-call]
    after = _samples(prometheus_client.generate_latest(registry).decode())
    for actor, total in (("ok", 2), ("flaky", 2), ("held", 1)):
        assert after[("dramatiq_messages_total", labels(actor))] == total
        assert after[("dramatiq_message_duration_milliseconds_count", labels(actor))] == total
    assert after[("dramatiq_message_errors_total", labels("flaky"))] == 2
    assert after[("dramatiq_message_retries_total", labels("flaky"))] == 1
    assert after[("dramatiq_message_rejects_total", labels("flaky"))] == 1
    assert {dict(labels)["queue_name"] for _, labels in after} == {"q"}
    assert 0 < after[("dramatiq_message_duration_milliseconds_sum", labels("held"))] < 30_000
    # And the stopped process took its share of the in-progress gauges with it
    assert not [name for name, _ in after if name.endswith("inprogress")]


@pytest.mark.parametrize(("value", "port"), [("", None), ("9300", 9300)])
def test_the_metrics_port_is_optional(value: str, port: int | None) -> None:
    assert _core(CREDSYNC_METRICS_PORT=value).metrics_port == port


def test_the_last_port_is_refused_since_the_scanner_needs_the_next_one() -> None:
    with pytest.raises(errors.ConfigurationError, match="CREDSYNC_METRICS_PORT"):
        _core(CREDSYNC_METRICS_PORT="65535")


def test_the_holds_gauge_counts_holds_in_force_by_kind(database: db.Database) -> None:
    # Given a refusal, two throttled learners, and a cooldown that is already over
    book = cooldowns.Cooldowns(database, cache_s=0)
    soon = time.time() + 60
    book.record("http://c#refused:GET /api/v2/credentials/", soon, "HTTP 403", "refused")
    book.record("http://c#learner:ada", soon, "HTTP 429", "learner_throttle")
    book.record("http://c#learner:bob", soon, "HTTP 429", "learner_throttle")
    book.record("http://c", time.time() - 1, "HTTP 503", "retry_after")
    # When the collector is scraped
    registry = _scrape(scanning.OutboxCollector(database, lambda: None))
    # Then each kind is counted, and the ended cooldown is not
    value = registry.get_sample_value
    assert {k: value("credsync_holds", {"kind": k}) for k in scanning.HOLD_KINDS} == {
        "retry_after": 0,
        "learner_throttle": 2,
        "refused": 1,
    }
