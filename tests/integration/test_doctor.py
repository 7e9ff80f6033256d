"""`credsync doctor` checks against real Postgres, real Redis and the Credentials emulator."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pika
import pika.exceptions
import psycopg
import pytest
import redis

from tests import rig
from worker import broker as brokers
from worker import db
from worker.clients import credentials
from worker.emulator import server
from worker.ops import doctor
from worker.outbox import cooldowns

REDIS_URL = os.environ.get("CREDSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("CREDSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
WRONG_SECRET = "not-the-secret-7f3a9c"
TASK = "award_program_certificates"
ALL_CHECKS = [
    doctor.CHECK_OUTBOX_TABLE,
    doctor.CHECK_VACUUM_HORIZON,
    doctor.CHECK_CLAIM_QUERY,
    doctor.CHECK_BROKER,
    doctor.CHECK_CREDENTIALS,
]


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue name of this test alone; its Dramatiq keys are deleted afterwards."""
    name = f"credsync-doctor-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    try:
        brokers.delete_queue(client, name)
    finally:
        client.close()


def _push(queue_name: str, count: int) -> None:
    """Put ``count`` messages on a queue the way Dramatiq's Redis broker does (id list + message hash)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for _ in range(count):
            message_id = uuid.uuid4().hex
            client.hset(brokers.messages_key(queue_name), message_id, b"{}")
            client.rpush(brokers.queue_key(queue_name), message_id)
    finally:
        client.close()


def _run(
    database: db.Database,
    *,
    broker_url: str | None = None,
    queue_name: str = "credsync",
    client: credentials.CredentialsClient | None = None,
    now: Callable[[], float] = time.time,
) -> dict[str, doctor.Finding]:
    findings = doctor.run(
        database=database, broker_url=broker_url, queue_name=queue_name, credentials=client, now=now
    )
    assert [f.check for f in findings] == ALL_CHECKS
    return {f.check: f for f in findings}


def _pending_rows(sql: psycopg.Connection[Any], count: int) -> None:
    sql.execute(
        "INSERT INTO credsync.outbox (task, payload)"
        " SELECT %s, jsonb_build_object('username', 'learner' || g) FROM generate_series(1, %s) g",
        (TASK, count),
    )


def _in(seconds: float) -> Callable[[], float]:
    return lambda: time.time() + seconds


@contextlib.contextmanager
def _idle_transaction_with_snapshot(database_url: str, marker: str) -> Iterator[int]:
    """A session that read under REPEATABLE READ and stays idle in its transaction; yields its pid."""
    conn = psycopg.connect(database_url)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute(f"SELECT '{marker}' AS marker, count(*) FROM credsync.outbox")  # type: ignore[arg-type]
        yield conn.info.backend_pid
    finally:
        conn.close()


# -- the whole run ---------------------------------------------------------------------------------


def test_given_a_healthy_system_when_the_doctor_runs_then_every_check_is_ok_and_it_exits_0(
    database: db.Database,
    platform: Any,
    credentials_client: credentials.CredentialsClient,
    queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given: sync enabled, nothing queued, Redis and Credentials up
    platform.enable_credentials()
    # When (its probe of another user's credentials is refused, as on a default install)
    with caplog.at_level(logging.ERROR):
        findings = doctor.run(
            database=database, broker_url=REDIS_URL, queue_name=queue, credentials=credentials_client
        )
    # Then nothing is logged as an error: an expected refusal of a probe is no pause
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # Then
    assert [(f.check, f.verdict, f.advice) for f in findings] == [(c, "ok", None) for c in ALL_CHECKS]
    assert doctor.exit_code(findings) == 0
    assert "0 waiting" in findings[3].summary
    assert "tokens signed here (RS512" in findings[4].summary
    assert (
        "read with learner tokens (the service token may not read them: no grant needed)"
        in findings[4].summary
    )


def test_given_one_check_raises_when_the_doctor_runs_then_that_check_fails_and_the_others_still_run(
    database: db.Database,
    sql: psycopg.Connection[Any],
    credentials_client: credentials.CredentialsClient,
    queue: str,
) -> None:
    # Given: the outbox table is missing (a database credsync was never migrated into, or a bad rename)
    sql.execute("ALTER TABLE credsync.outbox RENAME TO outbox_moved")
    # When
    found = _run(database, broker_url=REDIS_URL, queue_name=queue, client=credentials_client)
    # Then
    for check in (doctor.CHECK_OUTBOX_TABLE, doctor.CHECK_CLAIM_QUERY):
        assert found[check].verdict == "fail"
        assert "the check could not run" in found[check].summary
        assert 'relation "credsync.outbox" does not exist' in found[check].summary
        assert found[check].advice
    for check in (doctor.CHECK_VACUUM_HORIZON, doctor.CHECK_BROKER, doctor.CHECK_CREDENTIALS):
        assert found[check].verdict == "ok", found[check]
    assert doctor.exit_code(found.values()) == 1


def test_render_shows_every_check_with_its_verdict_and_what_to_do(database: db.Database) -> None:
    # Given: a run with ok, warn and fail findings
    findings = doctor.run(
        database=database, broker_url=UNREACHABLE_REDIS_URL, queue_name="q", credentials=None
    )
    verdicts = {f.verdict for f in findings}
    assert verdicts == {"ok", "warn", "fail"}
    # When
    text = doctor.render(findings)
    # Then
    lines = text.splitlines()
    for finding in findings:
        row = next(line for line in lines if line.startswith(finding.check))
        assert row.split()[len(finding.check.split())] == finding.verdict
    assert text.count("what to do:") == sum(1 for f in findings if f.advice)
    assert lines[-1] == "3 ok, 1 warn, 1 fail"
    assert max(len(line) for line in lines) <= 110


# -- outbox table ----------------------------------------------------------------------------------


def test_given_many_dead_tuples_and_no_autovacuum_when_the_doctor_runs_then_the_outbox_table_warns(
    database: db.Database, sql: psycopg.Connection[Any]
) -> None:
    # Given: 20,000 rows inserted then deleted, autovacuum off for the table
    sql.execute("ALTER TABLE credsync.outbox SET (autovacuum_enabled = false)")
    _pending_rows(sql, 20_000)
    sql.execute("DELETE FROM credsync.outbox")
    sql.execute("SELECT pg_stat_force_next_flush()")
    # When
    finding = _run(database)[doctor.CHECK_OUTBOX_TABLE]
    # Then
    assert finding.verdict == "warn"
    assert "0 live rows, 20,000 dead" in finding.summary
    assert "autovacuum is OFF for this table" in finding.summary
    assert finding.advice is not None
    assert "VACUUM (VERBOSE, ANALYZE) credsync.outbox" in finding.advice
    assert "RESET (autovacuum_enabled)" in finding.advice


def test_given_an_outbox_with_few_dead_tuples_when_the_doctor_runs_then_the_outbox_table_is_ok(
    database: db.Database, sql: psycopg.Connection[Any]
) -> None:
    # Given
    _pending_rows(sql, 50)
    sql.execute("DELETE FROM credsync.outbox WHERE id % 2 = 0")
    sql.execute("SELECT pg_stat_force_next_flush()")
    # When
    finding = _run(database)[doctor.CHECK_OUTBOX_TABLE]
    # Then
    assert (finding.verdict, finding.advice) == ("ok", None)
    assert "25 live rows, 25 dead" in finding.summary
    assert "kB with indexes" in finding.summary


# -- vacuum horizon --------------------------------------------------------------------------------


def test_given_a_session_idle_in_a_transaction_with_a_snapshot_then_the_vacuum_horizon_names_its_pid(
    database: db.Database, database_url: str
) -> None:
    marker = f"doctor-marker-{uuid.uuid4().hex[:6]}"
    # Given
    with _idle_transaction_with_snapshot(database_url, marker) as pid:
        # When: just now
        fresh = _run(database)[doctor.CHECK_VACUUM_HORIZON]
        # When: as if it had been open for 10 minutes, then 2 hours
        ten_minutes = _run(database, now=_in(600))[doctor.CHECK_VACUUM_HORIZON]
        two_hours = _run(database, now=_in(7200))[doctor.CHECK_VACUUM_HORIZON]
    # Then
    assert fresh.verdict == "ok"
    assert f"session pid {pid} (idle in transaction" in fresh.summary
    assert f"SELECT '{marker}' AS marker" in fresh.summary
    assert ten_minutes.verdict == "warn"
    assert "in its transaction for 10 min" in ten_minutes.summary
    assert two_hours.verdict == "fail"
    assert two_hours.advice is not None
    assert f"SELECT pg_terminate_backend({pid});" in two_hours.advice
    assert "idle_in_transaction_session_timeout" in two_hours.advice


def test_given_the_snapshot_is_released_when_the_doctor_runs_again_then_nothing_holds_back_vacuum(
    database: db.Database, database_url: str
) -> None:
    # Given
    with _idle_transaction_with_snapshot(database_url, "soon-gone") as pid:
        assert f"pid {pid}" in _run(database)[doctor.CHECK_VACUUM_HORIZON].summary
    # When
    finding = _run(database, now=_in(7200))[doctor.CHECK_VACUUM_HORIZON]
    # Then
    assert finding.verdict == "ok"
    assert finding.summary.startswith("nothing holds back vacuum")


# -- claim query -----------------------------------------------------------------------------------


def test_given_pending_rows_when_the_doctor_explains_the_claim_then_it_reports_the_index_and_claims_nothing(
    database: db.Database, sql: psycopg.Connection[Any], platform: Any
) -> None:
    # Given
    platform.enable_credentials()
    _pending_rows(sql, 40)
    # When
    finding = _run(database)[doctor.CHECK_CLAIM_QUERY]
    # Then
    assert (finding.verdict, finding.advice) == ("ok", None), finding
    assert "uses outbox_pending_idx" in finding.summary
    assert "would claim 40 rows" in finding.summary
    assert "40 pending, 40 due, 40 claimable, 0 in flight" in finding.summary
    assert " ms (planning " in finding.summary
    # Then: the EXPLAIN ANALYZE of the claim was rolled back
    left = sql.execute(
        "SELECT count(*) AS n FROM credsync.outbox WHERE status = 'pending' AND enqueued_at IS NULL"
    ).fetchone()
    assert left == {"n": 40}


def test_given_due_rows_nobody_claims_for_two_minutes_then_the_claim_query_warns_about_claim_lag(
    database: db.Database, sql: psycopg.Connection[Any], platform: Any
) -> None:
    # Given: rows due now, seen two minutes later
    platform.enable_credentials()
    _pending_rows(sql, 3)
    # When
    finding = _run(database, now=_in(120))[doctor.CHECK_CLAIM_QUERY]
    # Then
    assert finding.verdict == "warn"
    assert "claim lag 2 min" in finding.summary
    assert finding.advice is not None
    assert "scanner" in finding.advice


def test_the_claim_check_runs_the_claim_with_the_scanners_live_settings(
    database: db.Database, sql: psycopg.Connection[Any], platform: Any
) -> None:
    # Given 40 due rows, 3 already in flight, and a scanner configured with a batch of 7 and an
    # in-flight limit of 3
    platform.enable_credentials()
    _pending_rows(sql, 43)
    sql.execute(
        "UPDATE credsync.outbox SET status = 'enqueued', lease_until = now() + interval '30 seconds'"
        " WHERE id IN (SELECT id FROM credsync.outbox ORDER BY id LIMIT 3)"
    )
    live = doctor.ClaimSettings(batch=7, max_in_flight=3, lease_s=30, scan_interval_ms=200)
    # When the doctor checks the claim two minutes later
    finding = doctor.check_claim_query(database, claim=live, now=_in(120))
    # Then it claims as that scanner would (nothing: the limit is reached), and says why rows wait
    assert "claim (batch 7)" in finding.summary
    assert "would claim 0 rows" in finding.summary
    assert finding.verdict == "warn"
    assert finding.advice is not None
    assert "in-flight limit (CREDSYNC_MAX_IN_FLIGHT) is reached" in finding.advice
    # And with room in flight, it would claim one batch of 7
    roomy = doctor.check_claim_query(database, claim=dataclasses.replace(live, max_in_flight=100))
    assert "would claim 7 rows" in roomy.summary


def test_given_sync_is_paused_with_due_rows_then_the_claim_query_warns_and_says_why(
    database: db.Database, sql: psycopg.Connection[Any]
) -> None:
    # Given: no Credentials config row on the host
    _pending_rows(sql, 2)
    # When
    finding = _run(database)[doctor.CHECK_CLAIM_QUERY]
    # Then
    assert finding.verdict == "warn"
    assert "claims PAUSED: no credentials_credentialsapiconfig row" in finding.summary
    assert finding.advice is not None
    assert "enable the host's Credentials config" in finding.advice


# -- broker ----------------------------------------------------------------------------------------


def test_given_messages_on_the_redis_queue_then_the_broker_check_reports_their_number(
    database: db.Database, queue: str
) -> None:
    # Given: 3 waiting messages and 2 delayed retries
    _push(queue, 3)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for n in range(2):
            client.hset(brokers.delayed_messages_key(queue), f"delayed-{n}", b"{}")
    finally:
        client.close()
    # When
    finding = _run(database, broker_url=REDIS_URL, queue_name=queue)[doctor.CHECK_BROKER]
    # Then
    assert (
        f"queue {queue!r}: 3 waiting, 0 held by workers, 2 delayed (retries), 0 dead-lettered"
        in finding.summary
    )
    assert "PING " in finding.summary


def test_given_an_untested_dramatiq_then_the_redis_broker_check_fails_naming_the_tested_range(
    database: db.Database, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a Dramatiq whose Redis key layout credsync was not tested with
    monkeypatch.setattr(dramatiq, "__version__", "2.3.0")
    # When
    finding = _run(database, broker_url=REDIS_URL, queue_name=queue)[doctor.CHECK_BROKER]
    # Then: no counts read from a layout that may have changed
    assert finding.verdict == "fail"
    assert "UntestedDependencyError: dramatiq 2.3.0 is installed" in finding.summary
    assert "tested with dramatiq 2.0 to 2.2 only" in finding.summary
    assert "tests/integration/test_broker_redis.py" in finding.summary


def test_given_an_unreachable_redis_then_the_broker_check_fails_with_what_to_do(
    database: db.Database,
) -> None:
    # When
    finding = _run(database, broker_url=UNREACHABLE_REDIS_URL)[doctor.CHECK_BROKER]
    # Then
    assert finding.verdict == "fail"
    assert finding.summary.startswith("redis://127.0.0.1:1/0: unreachable")
    assert finding.advice is not None
    assert "BROKER_URL" in finding.advice


def test_given_no_broker_url_then_the_broker_check_warns_that_it_is_not_configured(
    database: db.Database,
) -> None:
    finding = _run(database, broker_url=None)[doctor.CHECK_BROKER]
    assert finding.verdict == "warn"
    assert "no broker URL configured" in finding.summary


@pytest.fixture
def rabbitmq_queue() -> Iterator[tuple[Any, str]]:
    """A channel on the test RabbitMQ and a queue name of this test alone (deleted afterwards)."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPError as exc:
        pytest.skip(f"no RabbitMQ at CREDSYNC_TEST_AMQP_URL ({type(exc).__name__})")
    name = f"credsync-doctor-{uuid.uuid4().hex[:8]}"
    channel = connection.channel()
    try:
        yield channel, name
    finally:
        for queue_name in (name, f"{name}.DQ"):
            channel.queue_delete(queue_name)
        connection.close()


def test_given_messages_on_a_rabbitmq_queue_without_consumers_then_the_broker_check_warns_with_their_number(
    database: db.Database, rabbitmq_queue: tuple[Any, str]
) -> None:
    # Given
    channel, name = rabbitmq_queue
    channel.queue_declare(name, durable=True)
    channel.queue_declare(f"{name}.DQ", durable=True)
    for _ in range(3):
        channel.basic_publish("", name, b"{}")
    channel.basic_publish("", f"{name}.DQ", b"{}")
    # When
    finding = _run(database, broker_url=AMQP_URL, queue_name=name)[doctor.CHECK_BROKER]
    # Then
    assert finding.verdict == "warn"
    assert finding.summary.startswith("amqp://127.0.0.1:5672/%2F: connected in ")
    assert (
        f"queue {name!r}: 3 messages, 0 consumers; '{name}.DQ': 1 message (delayed retries)"
        in finding.summary
    )
    assert finding.advice is not None
    assert "start the `worker` process" in finding.advice


def test_given_the_rabbitmq_queue_was_never_declared_then_the_broker_check_warns_that_no_worker_started(
    database: db.Database, rabbitmq_queue: tuple[Any, str]
) -> None:
    _channel, name = rabbitmq_queue
    finding = _run(database, broker_url=AMQP_URL, queue_name=name)[doctor.CHECK_BROKER]
    assert finding.verdict == "warn"
    assert finding.summary.endswith(f"queue {name!r} does not exist")


def test_given_an_unreachable_rabbitmq_then_the_broker_check_fails(database: db.Database) -> None:
    finding = _run(database, broker_url="amqp://guest:guest@127.0.0.1:1/%2F")[doctor.CHECK_BROKER]
    assert finding.verdict == "fail"
    assert finding.summary.startswith("amqp://127.0.0.1:1/%2F: unreachable")
    assert "guest" not in finding.summary


# -- credentials -----------------------------------------------------------------------------------


def test_given_a_wrong_client_secret_then_the_credentials_check_fails_naming_the_setting_not_the_secret(
    database: db.Database, emulator: Any
) -> None:
    # Given
    with credentials.CredentialsClient(
        credentials_url=emulator.url,
        oauth_url=emulator.url,
        client_id="credsync",
        client_secret=WRONG_SECRET,
        timeout=(2.0, 2.0),
    ) as client:
        # When
        findings = doctor.run(database=database, broker_url=None, queue_name="q", credentials=client)
    finding = findings[4]
    # Then
    assert finding.check == doctor.CHECK_CREDENTIALS
    assert finding.verdict == "fail"
    assert "answered HTTP 401 (invalid_client)" in finding.summary
    assert finding.advice is not None
    assert "OAUTH_CLIENT_SECRET" in finding.advice
    assert WRONG_SECRET not in doctor.render(findings)
    assert WRONG_SECRET not in repr(findings)


def test_given_an_unreachable_credentials_service_then_the_credentials_check_fails(
    database: db.Database,
) -> None:
    # Given
    with credentials.CredentialsClient(
        credentials_url="http://127.0.0.1:1",
        oauth_url="http://127.0.0.1:1",
        client_id="credsync",
        client_secret="whatever",
        timeout=(1.0, 1.0),
    ) as client:
        # When
        finding = _run(database, client=client)[doctor.CHECK_CREDENTIALS]
    # Then
    assert finding.verdict == "fail"
    assert finding.summary.startswith("unreachable: POST http://127.0.0.1:1/oauth2/access_token failed")
    assert finding.advice is not None
    assert "CREDENTIALS_URL" in finding.advice


def test_given_an_active_cooldown_then_the_credentials_check_warns_and_names_it(
    database: db.Database, sql: psycopg.Connection[Any], credentials_client: credentials.CredentialsClient
) -> None:
    # Given
    sql.execute(
        "INSERT INTO credsync.cooldown (destination, until, reason)"
        " VALUES ('https://credentials.example', now() + interval '5 minutes', 'HTTP 429, Retry-After 300 s')"
    )
    # When
    finding = _run(database, client=credentials_client)[doctor.CHECK_CREDENTIALS]
    # Then
    assert finding.verdict == "warn"
    assert "accepted: GET" in finding.summary
    assert "1 hold(s) in force: https://credentials.example for 5 min more" in finding.summary
    assert finding.advice is not None
    assert (
        "DELETE FROM credsync.cooldown WHERE destination IN ('https://credentials.example')" in finding.advice
    )


def test_given_no_credentials_client_then_the_credentials_check_warns_that_it_is_not_configured(
    database: db.Database,
) -> None:
    finding = _run(database)[doctor.CHECK_CREDENTIALS]
    assert finding.verdict == "warn"
    assert finding.summary.startswith("not checked: no Credentials client configured")
    assert finding.advice is not None
    assert "OAUTH_CLIENT_SECRET" in finding.advice


def test_with_oauth_only_on_a_default_install_the_credentials_check_fails_naming_the_grant(
    database: db.Database, emulator: Any
) -> None:
    # Given the OAuth client of a default Credentials install (Admins lack view_usercredential)
    with rig.client(database, emulator, signed=False) as client:
        # When the doctor runs
        finding = _run(database, client=client)[doctor.CHECK_CREDENTIALS]
    # Then it fails: the service token may not read learners' credentials, and it names the fixes
    assert finding.verdict == "fail"
    assert "answered HTTP 403: the service token may not read learners' credentials" in finding.summary
    assert finding.advice is not None
    assert "credentials.view_usercredential" in finding.advice
    assert "LMS_JWT_PRIVATE_SIGNING_JWK" in finding.advice
    assert "first program award for a learner who never signed in" in finding.advice


def test_with_oauth_only_and_the_grant_the_credentials_check_is_ok(
    database: db.Database, emulator: Any
) -> None:
    emulator.set_switches(admins_can_view=True)
    with rig.client(database, emulator, signed=False) as client:
        finding = _run(database, client=client)[doctor.CHECK_CREDENTIALS]
    assert finding.verdict == "ok"
    assert "the service token may read learners' credentials" in finding.summary


def test_given_a_refusal_in_force_the_credentials_check_fails_with_its_fix(
    database: db.Database, credentials_client: credentials.CredentialsClient
) -> None:
    # Given workers met a refusal a while ago
    book = cooldowns.Cooldowns(database, cache_s=0)
    reason = "Credentials refuses POST /api/v2/credentials/ with the service token: HTTP 403. Fix: staff"
    book.record("http://c#refused:POST /api/v2/credentials/", time.time() + 60, reason, "refused")
    # When the doctor runs
    finding = _run(database, client=credentials_client)[doctor.CHECK_CREDENTIALS]
    # Then the check fails and quotes the refusal with its fix
    assert finding.verdict == "fail"
    assert f"REFUSED since 0 s ago: {reason}" in finding.summary
    assert finding.advice is not None
    assert "go on by themselves" in finding.advice


def test_signing_with_a_key_credentials_does_not_trust_fails_naming_the_jwt_settings(
    database: db.Database, platform: Any
) -> None:
    # Given a Credentials service that trusts another issuer's keys
    platform.service_user()
    with (
        server.Emulator(port=0, issuer="http://other-lms/oauth2") as other,
        rig.client(database, other) as client,
    ):
        finding = _run(database, client=client)[doctor.CHECK_CREDENTIALS]
    assert finding.verdict == "fail"
    assert "HTTP 401" in finding.summary
    assert "JWT_ISSUERS" in finding.summary


def test_signing_without_the_service_user_on_the_host_fails_naming_it(
    database: db.Database, emulator: Any
) -> None:
    with rig.client(database, emulator) as client:
        finding = _run(database, client=client)[doctor.CHECK_CREDENTIALS]
    assert finding.verdict == "fail"
    assert "CREDENTIALS_SERVICE_USERNAME" in finding.summary
