"""Retry-After as a shared cooldown, and the delivery ledger, through real actors and the emulator."""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import keys
from tests import rig as rigs
from tests.conftest import Clock
from tests.harness import Pipeline
from tests.rig import Rig
from worker import tasks
from worker.clients import credentials
from worker.emulator import server
from worker.outbox import cooldowns, ledger, rows
from worker.sync import certificates, host

RUN = "course-v1:edX+DemoX+2026"


@pytest.fixture
def rig(database, platform, emulator) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    platform.enable_credentials()
    platform.service_user()
    platform.course_run(RUN)
    emulator.add_course_runs([RUN])
    r = Rig(database, emulator)
    yield r
    r.close()


@pytest.fixture
def clocked(database, platform, emulator, clock: Clock) -> Iterator[Pipeline]:  # type: ignore[no-untyped-def]
    """The rig's wiring with one clock for the hold book, the client and the outbox.

    A test crosses a hold by moving ``clock``.
    """
    platform.enable_credentials()
    platform.service_user()
    platform.course_run(RUN)
    emulator.add_course_runs([RUN])
    book = cooldowns.Cooldowns(database, cache_s=0, now=clock)
    client = rigs.client(
        database, emulator, observer=ledger.Ledger(database).record, cooldowns=book, now=clock
    )
    reader = host.HostReader(database)
    destination = credentials.destination(emulator.url)
    pipeline = Pipeline(
        database,
        tasks.REGISTRY,
        tasks.Deps(host=reader, credentials=client, rules=certificates.Rules()),
        gate=lambda: reader.paused_reason() or book.paused_reason(destination),
        max_retries=5,
        clock=clock,
    )
    yield pipeline
    pipeline.stop()
    client.close()


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _awards(platform: Any, usernames: list[str]) -> list[int]:
    ids = []
    for username in usernames:
        learner = platform.learner(username)
        platform.certificate(learner["id"], RUN)
        ids.append(
            platform.enqueue("award_course_certificate", {"username": username, "course_run_key": RUN})
        )
    return ids


def test_a_429_with_retry_after_pauses_every_row_for_that_service_without_using_their_attempts(
    clocked: Pipeline, platform: Any, emulator: server.Emulator, clock: Clock
) -> None:
    # Given Credentials answered an award with 429 and Retry-After: 2
    [first] = _awards(platform, ["first"])
    emulator.add_fault(
        server.Fault(
            method="POST", path_prefix="/api/v2/", action="status", status=429, retry_after_s=2, times=1
        )
    )
    clocked.scanner.run_once(rescue=False)
    _wait_until(lambda: clocked.row(first)["status"] == "retrying")
    assert clocked.row(first)["attempts"] == 1
    # When more rows arrive: the scanner claims none of them while the cooldown lasts
    later = _awards(platform, [f"u{i}" for i in range(4)])
    result = clocked.scanner.run_once(rescue=False)
    assert result.claimed == 0
    assert "asked to wait" in (result.paused or "")
    # And rows already claimed when it began (here: claimed past the scanner) wait without an attempt
    clocked.outbox.claim_due(batch=10, max_in_flight=100)
    for row_id in later:
        clocked.send(_claimed(row_id))
    _wait_until(lambda: all(clocked.row(i)["status"] == "pending" for i in later))
    for row_id in later:
        row = clocked.row(row_id)
        assert (row["status"], row["attempts"]) == ("pending", 0)
        assert "asked to wait" in row["waiting_on"]
        assert row["last_error"] is None
        assert row["run_after"] > clock()
        # And the first row's retry is due no sooner than the cooldown ends
        assert clocked.row(first)["run_after"] >= row["run_after"]
    assert [r["status"] for r in emulator.requests() if r["path"] == "/api/v2/credentials/"] == [429]
    # Then once the clock passes the cooldown every row ends done, each award accepted once
    clock.advance(seconds=2.1)
    # (The broker's delayed retry reads the real time: the test delivers it once it is due by the clock.)
    clocked.send(_claimed(first))
    clocked.scanner.run_once(rescue=False)
    _wait_until(lambda: {clocked.row(i)["status"] for i in [first, *later]} == {"done"})
    posts = [r["status"] for r in emulator.requests() if r["path"] == "/api/v2/credentials/"]
    assert posts == [429] + [201] * 5


def _claimed(row_id: int) -> rows.Claimed:
    """A claimed row as the pipeline sends it (the message names the row and its task)."""
    return rows.Claimed(row_id, "award_course_certificate")


def test_the_cooldown_is_shared_through_the_database(database: Any, clock: Clock) -> None:
    # Given two processes' views of the cooldowns
    first = cooldowns.Cooldowns(database, cache_s=0)
    second = cooldowns.Cooldowns(database, cache_s=0)
    # When one records a cooldown, and a shorter one arrives later
    first.record("https://credentials.example.com", time.time() + 60, "HTTP 429")
    first.record("https://credentials.example.com", time.time() + 5, "HTTP 503")
    # Then the other sees the longer one, and nothing for other services
    until = second.until("https://credentials.example.com")
    assert until is not None
    assert until - time.time() > 55
    assert second.until("https://other.example.com") is None
    assert "asked to wait" in (second.paused_reason("https://credentials.example.com") or "")


def test_every_request_of_a_row_is_in_the_delivery_ledger_with_its_answer(
    rig: Rig, platform: Any, emulator: server.Emulator, sql: Any
) -> None:
    # Given an award whose first attempt meets a 500
    [row_id] = _awards(platform, ["ada"])
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="status", status=500, times=1)
    )
    # When it runs to the end
    rig.pipeline.drain()
    # Then the ledger holds both attempts' requests, with their answers
    deliveries = rig.ledger.of_row(row_id)
    api = [(d["attempt"], d["method"], d["status"]) for d in deliveries if "/api/v2/" in d["url"]]
    assert api == [(1, "POST", 500), (2, "POST", 201)]
    assert all(d["duration_ms"] >= 0 for d in deliveries)
    # And pruning the row prunes its ledger
    sql.execute(
        "UPDATE credsync.outbox SET finished_at = now() - interval '30 days' WHERE id = %s", (row_id,)
    )
    assert rig.pipeline.outbox.prune_finished(done_days=7, failed_days=30) == 1
    assert sql.execute("SELECT count(*) AS n FROM credsync.delivery").fetchone() == {"n": 0}


def test_the_ledger_answers_was_it_sent_after_a_crash_before_the_row_was_updated(
    rig: Rig, platform: Any, emulator: server.Emulator
) -> None:
    # Given an attempt that sent its award, then died before recording its outcome
    [row_id] = _awards(platform, ["ada"])
    outbox = rig.pipeline.outbox
    outbox.claim_due(batch=10, max_in_flight=100)
    started = outbox.start(row_id)
    assert started is not None
    spec = tasks.REGISTRY["award_course_certificate"]
    with ledger.attempt_scope(row_id, started.attempt):
        spec.execute(rig.pipeline.runtime.deps, started.payload)  # ... and the process is killed here
    # When an operator asks
    row = rig.pipeline.row(row_id)
    deliveries = rig.ledger.of_row(row_id)
    # Then the row still says running, while the ledger shows the award was accepted
    assert row["status"] == "running"
    assert [(d["method"], d["status"]) for d in deliveries if d["url"].endswith("/api/v2/credentials/")] == [
        ("POST", 201)
    ]
    assert emulator.credentials()[0]["username"] == "ada"


@pytest.mark.parametrize("signed", [False, True], ids=["oauth", "signed"])
def test_secrets_never_reach_the_ledger_the_rows_or_the_logs(
    signed: bool,
    database: Any,
    platform: Any,
    emulator: server.Emulator,
    sql: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    platform.enable_credentials()
    platform.service_user()
    platform.course_run(RUN)
    emulator.add_course_runs([RUN])
    rig = Rig(database, emulator, signed=signed)
    # Given rows that succeed, fail at the token endpoint (OAuth), and fail at the API
    _awards(platform, ["a", "b", "c"])
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/oauth2/", action="status", status=500, times=1)
    )
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/", action="status", status=400, times=1)
    )
    rig.pipeline.drain()
    # Then no stored text holds the client secret or a token
    stored = (
        sql.execute(
            "SELECT coalesce(string_agg(coalesce(last_error, '') || coalesce(result::text, ''), ' '), '')"
            " AS t FROM credsync.outbox"
        ).fetchone()["t"]
        + sql.execute(
            "SELECT coalesce(string_agg(url || coalesce(error, ''), ' '), '') AS t FROM credsync.delivery"
        ).fetchone()["t"]
    )
    assert "credsync-secret" not in stored
    assert "eyJ" not in stored  # the start of every JWT
    assert "HTTP 400" in stored
    # And neither do the logs, at every level
    assert "credsync-secret" not in caplog.text
    assert "eyJ" not in caplog.text
    assert "HTTP 400" in caplog.text
    # Nor the private signing key
    private_part = json.loads(keys.private_jwk())["d"]
    assert private_part not in stored
    assert private_part not in caplog.text
    rig.close()


def test_a_row_retried_by_an_operator_is_a_new_run_the_ledger_tells_apart_and_ends_without_a_stale_error(
    rig: Rig, platform: Any, emulator: server.Emulator
) -> None:
    # Given a row that failed on a validation answer
    [row_id] = _awards(platform, ["ada"])
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/", action="status", status=400, times=1)
    )
    rig.pipeline.drain()
    failed = rig.pipeline.row(row_id)
    assert (failed["status"], failed["run"]) == ("failed", 1)
    assert "HTTP 400" in failed["last_error"]
    # When an operator retries it (credsync retry) and it succeeds
    assert rig.pipeline.outbox.retry_failed([row_id]) == [row_id]
    retried = rig.pipeline.row(row_id)
    assert (retried["status"], retried["run"], retried["attempts"], retried["last_error"]) == (
        "pending",
        2,
        0,
        None,
    )
    rig.pipeline.drain()
    # Then it ends done with no error from the failed run, and the ledger tells the runs apart
    done = rig.pipeline.row(row_id)
    assert (done["status"], done["run"], done["attempts"], done["last_error"]) == ("done", 2, 1, None)
    posts = [
        (d["run"], d["attempt"], d["status"])
        for d in rig.ledger.of_row(row_id)
        if d["method"] == "POST" and d["url"].endswith("/credentials/")
    ]
    assert posts == [(1, 1, 400), (2, 1, 201)]


def test_a_deferral_says_why_in_waiting_on_and_keeps_the_last_real_error(outbox: Any, platform: Any) -> None:
    # Given a row whose first attempt failed with a 500 and is due for its retry
    row_id = platform.enqueue("award_course_certificate", {"username": "ada", "course_run_key": RUN})
    outbox.claim_due(batch=10, max_in_flight=100)
    first = outbox.start(row_id)
    assert outbox.record_error(row_id, first.attempt, "POST /api/v2/credentials/ answered HTTP 500")
    assert outbox.mark_retrying(row_id, first.attempt, delay_ms=0)
    # When its second attempt meets a refusal and is deferred
    second = outbox.start(row_id)
    assert second is not None
    refusal = "Credentials refuses GET /api/v2/credentials/ with the service user's token: HTTP 403. Fix: ..."
    until = datetime.datetime.now(datetime.UTC)
    assert outbox.defer(row_id, second.attempt, until, refusal)
    # Then the row waits with the reason as data, the attempt not counted, the real error kept
    waiting = outbox.get(row_id)
    assert (waiting["status"], waiting["attempts"], waiting["waiting_on"]) == ("pending", 1, refusal)
    assert waiting["last_error"] == "POST /api/v2/credentials/ answered HTTP 500"
    # And once it runs again, it no longer says it waits
    outbox.claim_due(batch=10, max_in_flight=100)
    third = outbox.start(row_id)
    assert third is not None
    assert third.attempt == 2
    assert outbox.get(row_id)["waiting_on"] is None
