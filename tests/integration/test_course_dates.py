"""The two course tasks (SPEC §3.4, §3.5, §8.3, §8.4, §8.7): real host tables, the emulator, the outbox."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests import rig
from tests.harness import Pipeline
from worker import errors, outcomes, tasks
from worker.emulator import server
from worker.sync import certificates, course_dates, host, payloads

RUN = "course-v1:edX+DemoX+2026"
SUBTASK = "update_credentials_course_certificate_configuration_available_date"
PARENT = "update_certificate_available_date_on_course_update"
CONFIG_PATH = "/api/v2/course_certificates/"
UTC = datetime.UTC
PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))
END = datetime.datetime(2026, 6, 30, 17, 0, tzinfo=UTC)
CAD = datetime.datetime(2026, 7, 15, 11, 30, tzinfo=PLUS_2)  # 09:30 UTC


def _on_course_update(database: Any, key: str = RUN) -> outcomes.Outcome:
    payload = payloads.UpdateCertificateAvailableDate(course_key=key)
    return course_dates.update_certificate_available_date_on_course_update(host.HostReader(database), payload)


def _configure(
    database: Any, client: Any, date: str | None = None, key: str = RUN, **rules: bool
) -> outcomes.Outcome:
    payload = payloads.UpdateCertificateConfigurationDate(course_key=key, certificate_available_date=date)
    return course_dates.update_credentials_course_certificate_configuration_available_date(
        host.HostReader(database), client, payload, certificates.Rules(**rules)
    )


def _config_posts(emulator: server.Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == CONFIG_PATH]


# -- update_certificate_available_date_on_course_update (SPEC §3.4) ----------------------------------


def test_an_early_no_info_instructor_paced_run_enqueues_the_subtask_with_a_null_date(
    database, platform
) -> None:  # type: ignore[no-untyped-def]
    # Given an instructor-paced run showing certificates early, with an end and an available date
    platform.course_run(
        RUN, self_paced=False, end=END, certificate_available_date=CAD, display_behavior="early_no_info"
    )
    # When the parent task runs
    outcome = _on_course_update(database)
    # Then its only effect is one subtask row with a null date
    assert isinstance(outcome, outcomes.Enqueued)
    assert [(f.task, dict(f.payload)) for f in outcome.follow_ups] == [
        (SUBTASK, {"course_key": RUN, "certificate_available_date": None})
    ]
    assert outcome.as_result() == {
        "outcome": "enqueued",
        "course_key": RUN,
        "self_paced": False,
        "certificates_display_behavior": "early_no_info",
        "certificate_available_date": None,
        "subtask": SUBTASK,
    }


@pytest.mark.parametrize(
    ("self_paced", "behavior", "end", "cad", "expected"),
    [
        pytest.param(False, "end", END, CAD, "2026-06-30T17:00:00Z", id="end: the run's end"),
        pytest.param(
            False,
            "end",
            datetime.datetime(2026, 6, 30, 1, 0, tzinfo=PLUS_2),
            None,
            "2026-06-29T23:00:00Z",
            id="end: a non-UTC end comes out in UTC",
        ),
        pytest.param(
            False, "end_with_date", END, CAD, "2026-07-15T09:30:00Z", id="end_with_date: the CAD in UTC"
        ),
        pytest.param(False, "end_with_date", END, None, None, id="end_with_date without a CAD: null"),
        pytest.param(False, "end", None, CAD, None, id="end without an end: null"),
        pytest.param(False, "early_no_info", END, CAD, None, id="early_no_info: null"),
        pytest.param(True, "end_with_date", END, CAD, None, id="self-paced with a stray CAD: null"),
        pytest.param(True, "end", END, None, None, id="self-paced ending: null"),
        pytest.param(True, None, END, CAD, None, id="self-paced without a behaviour: null"),
    ],
)
def test_the_date_follows_pacing_and_display_behaviour_in_utc_iso_form_or_null(
    database, platform, self_paced, behavior, end, cad, expected
) -> None:  # type: ignore[no-untyped-def]
    # Given a run with this pacing, display behaviour, end and certificate available date
    platform.course_run(
        RUN, self_paced=self_paced, end=end, certificate_available_date=cad, display_behavior=behavior
    )
    # When the parent task runs
    outcome = _on_course_update(database)
    # Then the subtask gets the chosen date as %Y-%m-%dT%H:%M:%SZ, or JSON null (never "None": §8.3)
    assert isinstance(outcome, outcomes.Enqueued)
    [follow_up] = outcome.follow_ups
    assert follow_up.task == SUBTASK
    assert follow_up.payload == {"course_key": RUN, "certificate_available_date": expected}
    assert outcome.as_result()["certificate_available_date"] == expected


def _drop_display_behavior_check(sql: Any) -> None:
    for row in sql.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'course_overviews_courseoverview'::regclass"
        " AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%certificates_display_behavior%'"
    ).fetchall():
        sql.execute(f'ALTER TABLE course_overviews_courseoverview DROP CONSTRAINT "{row["conname"]}"')


@pytest.mark.parametrize("behavior", [None, "unexpected_behaviour", "END"])
def test_an_unexpected_display_behaviour_on_an_instructor_paced_run_fails_permanently(
    database, platform, sql, behavior
) -> None:  # type: ignore[no-untyped-def]
    # Given an instructor-paced run whose display behaviour is missing or unknown
    # (a host exposing its own view has no CHECK on the values: drop the reference table's)
    _drop_display_behavior_check(sql)
    platform.course_run(RUN, self_paced=False, end=END, display_behavior=behavior)
    # When the parent task runs, Then it fails permanently, naming the run and the behaviour (§8.4)
    with pytest.raises(errors.PermanentSyncError) as caught:
        _on_course_update(database)
    message = str(caught.value)
    assert RUN in message
    assert repr(behavior) in message


def test_a_run_without_a_course_overview_is_skipped_with_the_upstream_message(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given no course overview for the run (another run exists)
    platform.course_run("course-v1:edX+Other+2026")
    # When the parent task runs
    outcome = _on_course_update(database)
    # Then nothing is enqueued and the reason is upstream's warning
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_course_overview"
    assert outcome.message == (
        f"Unable to send the updated certificate available date of course run [{RUN}] to Credentials. "
        "A course overview for this course run could not be found"
    )
    assert outcome.follow_ups == ()


# -- update_credentials_course_certificate_configuration_available_date (SPEC §3.5, §5.5) -------------


@pytest.mark.parametrize(
    ("date", "sent"),
    [
        pytest.param(None, None, id="null stays null"),
        pytest.param("2026-07-15T09:30:00Z", "2026-07-15T09:30:00Z", id="Z"),
        pytest.param("2026-07-15 11:30:00+02:00", "2026-07-15T09:30:00Z", id="space and offset"),
        pytest.param("2026-07-15T11:30:00+02:00", "2026-07-15T09:30:00Z", id="offset"),
        pytest.param("2026-07-15 09:30:00", "2026-07-15T09:30:00Z", id="naive is UTC"),
    ],
)
def test_the_one_certificate_mode_is_configured_with_the_date_in_utc_iso_form(
    database, platform, emulator, credentials_client, date, sent
) -> None:  # type: ignore[no-untyped-def]
    # Given a run with a verified and an audit mode
    platform.course_run(RUN, modes=("verified", "audit"))
    # When the subtask runs
    outcome = _configure(database, credentials_client, date)
    # Then Credentials got exactly one POST with the upstream body, the date normalised
    body = {
        "course_id": RUN,
        "certificate_type": "verified",
        "certificate_available_date": sent,
        "is_active": True,
    }
    assert [p["json"] for p in _config_posts(emulator)] == [body]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.as_result() == {
        "outcome": "sent",
        **body,
        "http_status": 201,
        "platform_mode": "verified",
        "differs_from_platform_mode": False,
        "type_known_by": "no_certificate",
    }
    # And the service holds that configuration
    [configuration] = emulator.course_certificates()
    assert {k: configuration[k] for k in body} == body


def test_a_second_run_of_the_subtask_updates_the_configuration_in_place(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run already configured with a date
    platform.course_run(RUN, modes=("verified",))
    _configure(database, credentials_client, "2026-07-15T09:30:00Z")
    # When the date is cleared
    _configure(database, credentials_client, None)
    # Then Credentials holds one configuration, without a date
    [configuration] = emulator.course_certificates()
    assert (configuration["certificate_type"], configuration["certificate_available_date"]) == (
        "verified",
        None,
    )


def test_the_subtask_does_not_depend_on_the_credentials_config(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given the host's Credentials config is disabled (upstream's subtask has no enabled check: §3.5 step 5)
    platform.enable_credentials(enabled=False)
    platform.course_run(RUN, modes=("verified",))
    # When the subtask runs, Then it still sends
    assert isinstance(_configure(database, credentials_client), outcomes.Sent)
    assert len(_config_posts(emulator)) == 1


def _add_mode(sql: Any, slug: str, currency: str) -> None:
    sql.execute(
        "INSERT INTO course_modes_coursemode (course_id, mode_slug, currency) VALUES (%s, %s, %s)",
        (RUN, slug, currency),
    )


@pytest.mark.parametrize(
    ("modes", "extra", "found"),
    [
        pytest.param(("verified", "professional"), None, "['professional', 'verified']", id="two modes"),
        pytest.param(("verified", "honor"), None, "['honor', 'verified']", id="verified and honor"),
        pytest.param(
            ("verified", "audit"), ("verified", "eur"), "['verified', 'verified']", id="two currencies"
        ),
        pytest.param(("audit",), None, "[]", id="only audit"),
        pytest.param((), None, "[]", id="no modes at all"),
    ],
)
def test_not_exactly_one_certificate_mode_fails_permanently_without_a_request(
    database, platform, sql, emulator, credentials_client, modes, extra, found
) -> None:  # type: ignore[no-untyped-def]
    # Given a run with no certificate mode, or several (one row per currency counts)
    platform.course_run(RUN, modes=modes)
    if extra is not None:
        _add_mode(sql, *extra)
    # When the subtask runs, Then it fails permanently with upstream's message
    with pytest.raises(errors.PermanentSyncError) as caught:
        _configure(database, credentials_client, "2026-07-15T09:30:00Z")
    message = str(caught.value)
    assert message.startswith(f"Either course {RUN} has no certificate mode or multiple modes")
    assert found in message
    # And nothing was asked of Credentials (not even a token)
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("modes", "disabled", "sent_type"),
    [
        pytest.param(("honor",), False, "honor", id="honor counts"),
        pytest.param(("honor",), True, None, id="honor disabled: no mode"),
        pytest.param(("honor", "audit"), True, None, id="honor disabled with audit: no mode"),
        pytest.param(("verified", "honor"), True, "verified", id="honor disabled: verified is the one"),
    ],
)
def test_honor_counts_as_a_certificate_mode_unless_honor_certificates_are_disabled(
    database, platform, emulator, credentials_client, modes, disabled, sent_type
) -> None:  # type: ignore[no-untyped-def]
    # Given a run with honor among its modes
    platform.course_run(RUN, modes=modes)
    if sent_type is None:
        # When the subtask runs with honor certificates disabled, Then there is no certificate mode
        with pytest.raises(errors.PermanentSyncError, match="has no certificate mode or multiple modes"):
            _configure(database, credentials_client, disable_honor_certificates=disabled)
        assert _config_posts(emulator) == []
    else:
        # When the subtask runs, Then the one remaining mode is configured
        outcome = _configure(database, credentials_client, disable_honor_certificates=disabled)
        assert isinstance(outcome, outcomes.Sent)
        assert [p["json"]["certificate_type"] for p in _config_posts(emulator)] == [sent_type]


@pytest.mark.parametrize("mode", ["credit", "executive-education", "paid-bootcamp"])
def test_a_certificate_type_credentials_rejects_fails_permanently_quoting_the_answer(
    database, platform, emulator, credentials_client, mode
) -> None:  # type: ignore[no-untyped-def]
    # Given a run whose one certificate mode is an LMS mode Credentials has no type for (SPEC §5.5)
    platform.course_run(RUN, modes=(mode, "audit"))
    # When the subtask runs, Then Credentials' 400 fails the row at once (credsync's decision), quoted
    with pytest.raises(errors.PermanentSyncError) as caught:
        _configure(database, credentials_client)
    message = str(caught.value)
    assert "answered HTTP 400" in message
    assert "is not a valid choice" in message
    assert mode in message
    # And it was asked once, and holds nothing
    assert [p["status"] for p in _config_posts(emulator)] == [400]
    assert emulator.course_certificates() == []


@pytest.mark.parametrize(
    ("fault", "error", "delay_ms"),
    [
        pytest.param(
            server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=500),
            errors.TransientSyncError,
            None,
            id="500",
        ),
        pytest.param(
            server.Fault(method="POST", path_prefix=CONFIG_PATH, action="drop"),
            errors.TransientSyncError,
            None,
            id="dropped connection",
        ),
        pytest.param(
            server.Fault(
                method="POST", path_prefix=CONFIG_PATH, action="status", status=429, retry_after_s=5
            ),
            errors.TransientSyncError,
            5000,
            id="429 with Retry-After",
        ),
        pytest.param(
            server.Fault(
                method="POST", path_prefix=CONFIG_PATH, action="status", status=503, retry_after_s=2
            ),
            errors.TransientSyncError,
            2000,
            id="503 with Retry-After",
        ),
        # A refusal (401 with a fresh token, 403) is a misconfiguration: the row waits, no attempt used.
        pytest.param(
            server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=401),
            errors.DeferredSyncError,
            None,
            id="401 twice",
        ),
        pytest.param(
            server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=408),
            errors.TransientSyncError,
            None,
            id="408",
        ),
        pytest.param(
            server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=403),
            errors.DeferredSyncError,
            None,
            id="403",
        ),
        pytest.param(
            server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=404),
            errors.PermanentSyncError,
            None,
            id="404",
        ),
    ],
)
def test_failures_are_transient_or_permanent_as_credsync_decided(
    database, platform, emulator, credentials_client, fault, error, delay_ms
) -> None:  # type: ignore[no-untyped-def]
    # Given a run with one certificate mode, and Credentials failing this way
    platform.course_run(RUN, modes=("verified",))
    emulator.add_fault(fault)
    # When the subtask runs, Then it raises the expected kind of sync error (with Retry-After as delay)
    with pytest.raises(error) as caught:
        _configure(database, credentials_client, "2026-07-15T09:30:00Z")
    assert type(caught.value) is error
    if isinstance(caught.value, errors.TransientSyncError):
        assert caught.value.delay_ms == delay_ms
    assert isinstance(caught.value.__cause__, errors.CredentialsError)


def test_a_200_instead_of_201_is_accepted_and_logged_as_an_error(
    database, platform, emulator, credentials_client, caplog
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials answers 200 (SPEC §3.5 step 4: upstream logs it and carries on)
    platform.course_run(RUN, modes=("verified",))
    emulator.add_fault(server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=200))
    # When the subtask runs
    with caplog.at_level(logging.ERROR, logger=course_dates.__name__):
        outcome = _configure(database, credentials_client, "2026-07-15T09:30:00Z")
    # Then it is a success that records the status, and an error log says what was sent
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.as_result()["http_status"] == 200
    [record] = [r for r in caplog.records if r.name == course_dates.__name__]
    assert record.levelno == logging.ERROR
    assert "instead of 201" in record.getMessage()
    assert RUN in record.getMessage()


# -- through the outbox (SPEC §8.7) -------------------------------------------------------------------


class CourseHarness(Pipeline):
    """The pipeline with the real task registry and real dependencies, on the test database."""

    def __init__(self, database: Any, client: Any, *, max_retries: int = 2, lease_s: int = 30) -> None:
        reader = host.HostReader(database)
        deps = tasks.Deps(host=reader, credentials=client, rules=certificates.Rules())
        super().__init__(
            database,
            tasks.REGISTRY,
            deps,
            gate=reader.paused_reason,
            max_retries=max_retries,
            lease_s=lease_s,
        )


@pytest.fixture
def harness(database, platform, credentials_client) -> Iterator[CourseHarness]:  # type: ignore[no-untyped-def]
    platform.enable_credentials()
    h = CourseHarness(database, credentials_client)
    yield h
    h.stop()


def _rows(sql: Any) -> list[dict[str, Any]]:
    return sql.execute(
        "SELECT id, task, payload, status, attempts, result, last_error FROM credsync.outbox ORDER BY id"
    ).fetchall()


def test_a_course_update_row_hands_its_date_to_a_subtask_row_that_configures_credentials(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given an instructor-paced run ending on its certificate available date, with verified and audit modes
    platform.course_run(
        RUN,
        end=END,
        certificate_available_date=CAD,
        display_behavior="end_with_date",
        modes=("verified", "audit"),
    )
    # When the host enqueues the course update and the worker drains the outbox
    parent_id = platform.enqueue(PARENT, {"course_key": RUN})
    harness.drain()
    # Then the parent is done, enqueued, and one subtask row carries the computed date
    parent, child = _rows(sql)
    assert parent["id"] == parent_id
    assert (parent["status"], parent["attempts"], parent["last_error"]) == ("done", 1, None)
    assert parent["result"]["outcome"] == "enqueued"
    assert parent["result"]["certificate_available_date"] == "2026-07-15T09:30:00Z"
    assert (child["task"], child["payload"]) == (
        SUBTASK,
        {"course_key": RUN, "certificate_available_date": "2026-07-15T09:30:00Z"},
    )
    # And the subtask row is done, having configured Credentials
    assert (child["status"], child["attempts"], child["result"]["outcome"]) == ("done", 1, "sent")
    [configuration] = emulator.course_certificates()
    assert (configuration["course_id"], configuration["certificate_type"]) == (RUN, "verified")
    assert configuration["certificate_available_date"] == "2026-07-15T09:30:00Z"
    assert configuration["is_active"] is True


def test_a_replayed_completion_of_the_parent_inserts_no_second_subtask_row(
    platform, sql, outbox, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given a course update row that ran and handed over to its subtask
    platform.course_run(RUN, display_behavior="early_no_info")
    parent_id = platform.enqueue(PARENT, {"course_key": RUN})
    harness.drain()
    parent = outbox.get(parent_id)
    assert parent is not None
    # When its completion is replayed (a duplicate message, a race), with the same follow-up
    won = outbox.mark_done(
        parent_id,
        parent["attempts"],
        parent["result"],
        [(SUBTASK, {"course_key": RUN, "certificate_available_date": None})],
    )
    # Then the replay loses, and there is still exactly one subtask row
    assert won is False
    assert [r["task"] for r in _rows(sql)] == [PARENT, SUBTASK]


def test_an_unexpected_display_behaviour_fails_the_parent_row_at_once_without_a_subtask(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given an instructor-paced run without a display behaviour
    platform.course_run(RUN, display_behavior=None)
    # When its course update row runs
    platform.enqueue(PARENT, {"course_key": RUN})
    harness.drain()
    # Then the row failed on its first attempt, saying why, and nothing else happened
    [row] = _rows(sql)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert RUN in row["last_error"]
    assert "None" in row["last_error"]
    assert emulator.requests() == []


def test_a_course_update_for_a_run_without_overview_ends_done_with_the_reason(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    platform.enqueue(PARENT, {"course_key": RUN})
    harness.drain()
    [row] = _rows(sql)
    assert (row["status"], row["result"]["outcome"], row["result"]["reason"]) == (
        "done",
        "skipped",
        "no_course_overview",
    )
    assert emulator.requests() == []


def test_a_subtask_row_for_a_run_with_several_modes_fails_while_its_parent_stays_done(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given an instructor-paced run with both verified and honor modes
    platform.course_run(RUN, end=END, display_behavior="end", modes=("verified", "honor"))
    # When its course update row runs
    platform.enqueue(PARENT, {"course_key": RUN})
    harness.drain()
    # Then the parent is done, and the subtask failed at once naming the problem, with no request sent
    parent, child = _rows(sql)
    assert parent["status"] == "done"
    assert (child["status"], child["attempts"]) == ("failed", 1)
    assert "has no certificate mode or multiple modes" in child["last_error"]
    assert _config_posts(emulator) == []


def test_a_subtask_row_retries_a_server_error_then_configures_credentials(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials fails the first configuration POST with a 500
    platform.course_run(RUN, end=END, display_behavior="end")
    emulator.add_fault(
        server.Fault(method="POST", path_prefix=CONFIG_PATH, action="status", status=500, times=1)
    )
    # When the course update row and its subtask run
    platform.enqueue(PARENT, {"course_key": RUN})
    harness.drain()
    # Then the subtask succeeded on its second attempt, keeping the first error
    _, child = _rows(sql)
    assert (child["status"], child["attempts"]) == ("done", 2)
    assert "answered HTTP 500" in child["last_error"]
    assert [c["certificate_available_date"] for c in emulator.course_certificates()] == [
        "2026-06-30T17:00:00Z"
    ]


def test_a_subtask_row_with_a_date_out_of_utc_range_fails_at_once_naming_the_key(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given a host row whose ISO 8601 date has no UTC form (year 10000 once the offset is applied)
    platform.course_run(RUN, modes=("verified",))
    platform.enqueue(SUBTASK, {"course_key": RUN, "certificate_available_date": "9999-12-31T23:59:59-01:00"})
    # When it runs
    harness.drain()
    # Then it failed on its first attempt, with a message naming the key, and nothing was sent
    [row] = _rows(sql)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "certificate_available_date" in row["last_error"]
    assert _config_posts(emulator) == []


def test_with_oauth_only_an_unavailable_token_endpoint_is_transient(database, platform, emulator) -> None:  # type: ignore[no-untyped-def]
    platform.course_run(RUN, modes=("verified",))
    emulator.add_fault(server.Fault(method="POST", path_prefix="/oauth2/", action="status", status=503))
    with rig.client(database, emulator, signed=False) as client, pytest.raises(errors.TransientSyncError):
        _configure(database, client, "2026-07-15T09:30:00Z")
