"""One certificate per course run (issue 10, item 5; SPEC §5.5, §5.7): real host tables and
``credsync.course_certificate_type``.

The first part talks to ``RealCredentials``, a ``responses`` model of what the real service was
measured to do: one course certificate per catalog run (a second ``certificate_type`` answers a
500 HTML page), a course-run award in mode B attached to the run's type-A certificate (its answer
says A), ``GET course_certificates/<key>/`` answering 404 for any key with a ``.``, and a 400 for an
award in a run missing from its catalog. The second part runs the same stories against the
emulator over HTTP, through the outbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import responses

from tests.integration.test_course_dates import CourseHarness
from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificate_types, certificates, course_dates, host, payloads

ROOT = "https://credentials.example.com"
MITX_ROOT = "https://mitx-credentials.example.com"
TOKEN_URL = "https://lms.example.com/oauth2/access_token"
DOTTED = "course-v1:MITx+6.003x+2026"  # GET course_certificates/<key>/ answers 404 for it
PLAIN = "course-v1:edX+DemoX+2026"  # no dot: it can be looked up
CONFIG_PATH = "/api/v2/course_certificates/"
AWARD_PATH = "/api/v2/credentials/"
SUBTASK = course_dates.SUBTASK
HTML_500 = "<html><body><h1>Server Error (500)</h1></body></html>"


class RealCredentials:
    """The Credentials service as measured (SPEC §5.7), answering through ``responses``."""

    def __init__(self, mock: responses.RequestsMock, root: str = ROOT) -> None:
        self.root = root
        self.catalog: set[str] = set()
        #: run key -> the one CourseCertificate of the run (runs of the catalog)
        self.certificates: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        #: configuration POSTs still to fail with ``outage_status`` whatever they carry (an outage)
        self.outage = 0
        self.outage_status = 500
        mock.add_callback("POST", root + AWARD_PATH, callback=self._award)
        mock.add_callback("POST", root + CONFIG_PATH, callback=self._configure)
        mock.add_callback("GET", re.compile(re.escape(root + CONFIG_PATH) + r".+"), callback=self._lookup)

    def has(self, run: str, certificate_type: str) -> None:
        """The run is in the catalog and its certificate has this type."""
        self.catalog.add(run)
        self.certificates[run] = self._certificate(run, certificate_type)

    def requests(self, method: str | None = None, path: str | None = None) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if (method in (None, c[0])) and (path in (None, c[1]))]

    def _certificate(self, run: str, certificate_type: str) -> dict[str, Any]:
        return {
            "id": len(self.certificates) + 1,
            "site": 1,
            "course_id": run,
            "course_run": run,
            "certificate_type": certificate_type,
            "certificate_available_date": None,
            "is_active": True,
        }

    def _record(self, request: Any) -> tuple[str, Any]:
        path = urlsplit(request.url).path
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, path, body))
        return path, body

    def _award(self, request: Any) -> tuple[int, dict[str, str], str]:
        _, body = self._record(request)
        run = body["credential"]["course_run_key"]
        if run not in self.catalog:
            message = (
                f"CourseCertificate failed to create because the CourseRun {run} doesn't exist in the catalog"
            )
            return 400, {}, json.dumps({"credential": {"course_run_key": message}})
        certificate = self.certificates.setdefault(run, self._certificate(run, body["credential"]["mode"]))
        answer = {
            "username": body["username"],
            "credential": {
                "type": "course-run",
                "course_run_key": run,
                "mode": certificate["certificate_type"],
            },
            "status": body["status"],
            "uuid": "6f1d0c7e-6b8e-4f0e-9d53-0c2a4c1a9e11",
            "attributes": [],
            "date_override": body.get("date_override"),
        }
        return 201, {}, json.dumps(answer)

    def _configure(self, request: Any) -> tuple[int, dict[str, str], str]:
        _, body = self._record(request)
        run = body["course_id"]
        stored = self.certificates.get(run)
        if self.outage > 0:
            self.outage -= 1
            return self.outage_status, {"Content-Type": "text/html"}, HTML_500
        if stored is not None and stored["certificate_type"] != body["certificate_type"]:
            return 500, {"Content-Type": "text/html"}, HTML_500  # IntegrityError: UNIQUE course_run
        if stored is None:
            stored = self._certificate(run, body["certificate_type"])
            if run in self.catalog:
                self.certificates[run] = stored
        stored["certificate_available_date"] = body["certificate_available_date"]
        stored["is_active"] = body["is_active"]
        return 201, {}, json.dumps(stored)

    def _lookup(self, request: Any) -> tuple[int, dict[str, str], str]:
        path, _ = self._record(request)
        key = unquote(path[len(CONFIG_PATH) :].rstrip("/"))
        # DRF's default lookup pattern, [^/.]+, stops at a dot.
        if "." in key or "/" in key or key not in self.certificates:
            return 404, {"Content-Type": "text/html"}, "<html><body>Not Found</body></html>"
        return 200, {}, json.dumps(self.certificates[key])


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json={"access_token": "service-token", "token_type": "JWT", "expires_in": 3600})
        yield mock


@pytest.fixture
def service(http: responses.RequestsMock) -> RealCredentials:
    return RealCredentials(http)


@pytest.fixture
def client() -> Iterator[credentials.CredentialsClient]:
    client = credentials.CredentialsClient(
        credentials_url=ROOT, oauth_url="https://lms.example.com", client_id="credsync", client_secret="s"
    )
    yield client
    client.close()


def _configure(
    database: Any, client: Any, key: str, date: str | None = None, **rules: bool
) -> outcomes.Outcome:
    payload = payloads.UpdateCertificateConfigurationDate(course_key=key, certificate_available_date=date)
    return course_dates.update_credentials_course_certificate_configuration_available_date(
        host.HostReader(database), client, payload, certificates.Rules(**rules)
    )


def _award(database: Any, client: Any, username: str, key: str) -> outcomes.Outcome:
    payload = payloads.AwardCourseCertificate(username=username, course_run_key=key)
    return certificates.award_course_certificate(host.HostReader(database), client, payload)


def _remembered(sql: Any) -> list[tuple[str, str, str, str]]:
    rows = sql.execute(
        "SELECT destination, course_run_key, certificate_type, source FROM credsync.course_certificate_type"
        " ORDER BY destination, course_run_key"
    ).fetchall()
    return [(r["destination"], r["course_run_key"], r["certificate_type"], r["source"]) for r in rows]


def _outbox_rows(sql: Any) -> list[dict[str, Any]]:
    return sql.execute(
        "SELECT id, task, status, attempts, result, last_error FROM credsync.outbox ORDER BY id"
    ).fetchall()


def _learner_with_certificate(platform: Any, run: str, username: str = "ada", **certificate: Any) -> int:
    learner = platform.learner(username)
    platform.certificate(learner["id"], run, **certificate)
    return int(learner["id"])


# -- the configuration task ----------------------------------------------------------------------


def test_a_dotted_run_whose_certificate_has_another_type_gets_its_date_on_that_certificate(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run whose platform mode is verified, while Credentials keeps a professional
    # certificate for it (the first award auto-created it), and a learner holding a verified certificate
    platform.course_run(DOTTED, modes=("verified", "audit"))
    ada = _learner_with_certificate(platform, DOTTED, mode="verified", status="downloadable")
    service.has(DOTTED, "professional")
    # When the configuration task runs, knowing nothing of the run yet
    outcome = _configure(database, client, DOTTED, "2026-07-15T09:30:00Z")
    # Then it re-sent the learner's award exactly as award_course_certificate sends it, learned the type
    # from the answer, and set the date on the professional certificate
    assert service.requests("POST", AWARD_PATH) == [
        (
            "POST",
            AWARD_PATH,
            {
                "username": "ada",
                "status": "awarded",
                "credential": {"course_run_key": DOTTED, "mode": "verified", "type": "course-run"},
                "date_override": None,
            },
        )
    ]
    assert [body["certificate_type"] for _, _, body in service.requests("POST", CONFIG_PATH)] == [
        "professional"
    ]
    assert service.certificates[DOTTED]["certificate_available_date"] == "2026-07-15T09:30:00Z"
    # And the result says which type was set, the platform's mode, and how the type was known
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert {k: result[k] for k in ("certificate_type", "platform_mode", "differs_from_platform_mode")} == {
        "certificate_type": "professional",
        "platform_mode": "verified",
        "differs_from_platform_mode": True,
    }
    assert (result["type_known_by"], result["type_learned_via_user_id"]) == ("award_answer", ada)
    # And the type is remembered for the run, with where it was learned
    assert _remembered(sql) == [(ROOT, DOTTED, "professional", "award_answer")]


def test_a_remembered_type_is_posted_without_asking_credentials_again(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a course-run award already taught credsync that the run's certificate is professional
    platform.course_run(DOTTED, modes=("verified",))
    _learner_with_certificate(platform, DOTTED, mode="verified")
    service.has(DOTTED, "professional")
    _award(database, client, "ada", DOTTED)
    service.calls.clear()
    # When the configuration task runs
    outcome = _configure(database, client, DOTTED)
    # Then its only request is the configuration, with the remembered type
    assert [(m, p, b["certificate_type"]) for m, p, b in service.calls] == [
        ("POST", CONFIG_PATH, "professional")
    ]
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["type_known_by"], result["type_learned_from"]) == ("remembered", "award_answer")
    assert result["type_learned_at"].endswith("Z")


def test_a_run_key_without_a_dot_is_looked_up_and_its_stored_type_used(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run key without a dot, whose certificate in Credentials is professional
    platform.course_run(PLAIN, modes=("verified",))
    service.has(PLAIN, "professional")
    # When the configuration task runs
    outcome = _configure(database, client, PLAIN)
    # Then it read the certificate, then configured the professional one; no award was re-sent
    assert [(m, p) for m, p, _ in service.calls] == [
        ("GET", CONFIG_PATH + "course-v1%3AedX%2BDemoX%2B2026/"),
        ("POST", CONFIG_PATH),
    ]
    assert service.requests("POST", CONFIG_PATH)[0][2]["certificate_type"] == "professional"
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.as_result()["type_known_by"] == "lookup"
    assert _remembered(sql) == [(ROOT, PLAIN, "professional", "lookup")]


def test_a_run_without_a_certificate_gets_one_of_the_platform_mode(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run key without a dot that has no certificate in Credentials yet
    platform.course_run(PLAIN, modes=("verified", "audit"))
    service.catalog.add(PLAIN)
    # When the configuration task runs
    outcome = _configure(database, client, PLAIN, "2026-07-15T09:30:00Z")
    # Then the lookup found none, and a verified certificate was created with the date
    assert service.certificates[PLAIN]["certificate_type"] == "verified"
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["certificate_type"], result["differs_from_platform_mode"], result["type_known_by"]) == (
        "verified",
        False,
        "no_certificate",
    )
    # And what Credentials answered is remembered
    assert _remembered(sql) == [(ROOT, PLAIN, "verified", "configuration_answer")]


def test_a_dotted_run_nobody_holds_a_certificate_in_is_configured_with_the_platform_mode(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run without a certificate in Credentials, and no learner holding one on the platform
    platform.course_run(DOTTED, modes=("verified",))
    service.catalog.add(DOTTED)
    # When the configuration task runs
    outcome = _configure(database, client, DOTTED)
    # Then, the type unknowable, the platform's mode was posted and accepted; nothing else was asked
    assert [(m, p) for m, p, _ in service.calls] == [("POST", CONFIG_PATH)]
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["certificate_type"], result["type_known_by"]) == ("verified", "not_learned")
    assert "no learner holds an eligible certificate" in result["type_unknown_because"]


def test_a_500_for_the_platform_mode_when_the_type_cannot_be_learned_fails_at_once_saying_why(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run with a professional certificate in Credentials, a verified mode on the
    # platform, and no learner holding a certificate (only an audit one)
    platform.course_run(DOTTED, modes=("verified", "audit"))
    service.has(DOTTED, "professional")
    _learner_with_certificate(platform, DOTTED, mode="audit", status="audit_passing")
    # When the configuration task runs
    with pytest.raises(errors.PermanentSyncError) as caught:
        _configure(database, client, DOTTED)
    # Then it failed at once, after one POST, explaining the rule, why the type is unknown, and what to do
    message = str(caught.value)
    assert "Credentials keeps one certificate per course run" in message
    assert "HTTP 500" in message
    assert "'verified'" in message
    assert "no learner holds an eligible certificate" in message
    assert "credsync retry" in message
    assert isinstance(caught.value.__cause__, errors.CredentialsHTTPError)
    assert len(service.requests("POST", CONFIG_PATH)) == 1
    assert service.requests("POST", AWARD_PATH) == []
    # And the row's result will say what was tried
    assert caught.value.details is not None
    assert (caught.value.details["platform_mode"], caught.value.details["type_known_by"]) == (
        "verified",
        "not_learned",
    )


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_or_unavailable_answer_stays_transient_even_when_the_type_cannot_be_learned(
    database, platform, sql, service, client, status
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run whose type cannot be learned (nobody holds a certificate), and Credentials
    # behind a proxy answering 502/503/504 (an outage, not the one-certificate rule's 500)
    platform.course_run(DOTTED, modes=("verified",))
    service.catalog.add(DOTTED)
    service.outage, service.outage_status = 1, status
    # When the configuration task runs, Then it will be retried, not failed
    with pytest.raises(errors.TransientSyncError):
        _configure(database, client, DOTTED)


def test_a_500_when_the_type_was_learned_stays_transient(database, platform, sql, service, client) -> None:  # type: ignore[no-untyped-def]
    # Given a run whose type is learned by lookup, and Credentials failing the configuration (an outage)
    platform.course_run(PLAIN, modes=("verified",))
    service.has(PLAIN, "professional")
    service.outage = 1
    # When the configuration task runs, Then the 500 is worth a retry
    with pytest.raises(errors.TransientSyncError):
        _configure(database, client, PLAIN)
    # And the next attempt, knowing the type, succeeds with one request
    service.calls.clear()
    outcome = _configure(database, client, PLAIN)
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.as_result()["type_known_by"] == "remembered"
    assert len(service.calls) == 1


def test_a_stale_remembered_type_is_learned_again_when_credentials_answers_500(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given credsync remembers "honor" for a run whose certificate Credentials now keeps as professional
    platform.course_run(PLAIN, modes=("verified",))
    service.has(PLAIN, "professional")
    certificate_types.Book(database).learn(ROOT, PLAIN, "honor", certificate_types.LOOKUP)
    # When the configuration task runs
    outcome = _configure(database, client, PLAIN)
    # Then the 500 for "honor" made it look again, and the professional certificate got the date
    assert [(m, b["certificate_type"] if b else None) for m, _, b in service.calls] == [
        ("POST", "honor"),
        ("GET", None),
        ("POST", "professional"),
    ]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.as_result()["type_known_by"] == "lookup"
    assert _remembered(sql) == [(ROOT, PLAIN, "professional", "lookup")]


def test_a_stale_remembered_type_that_is_confirmed_again_keeps_the_500_transient(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a remembered type that is right, and an outage on configurations
    platform.course_run(PLAIN, modes=("verified",))
    service.has(PLAIN, "professional")
    certificate_types.Book(database).learn(ROOT, PLAIN, "professional", certificate_types.LOOKUP)
    service.outage = 1
    # When the configuration task runs, Then it checks once, and retries later
    with pytest.raises(errors.TransientSyncError):
        _configure(database, client, PLAIN)
    assert [m for m, _, _ in service.calls] == ["POST", "GET"]


def test_the_learner_whose_award_is_re_sent_is_chosen_deterministically(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run with learners holding certificates of several kinds
    platform.course_run(DOTTED, modes=("verified", "audit"))
    service.has(DOTTED, "professional")
    _learner_with_certificate(platform, DOTTED, "audit_mode", mode="audit", status="downloadable")
    _learner_with_certificate(platform, DOTTED, "audit_status", mode="verified", status="audit_passing")
    _learner_with_certificate(platform, DOTTED, "not_passing", mode="verified", status="notpassing")
    _learner_with_certificate(platform, DOTTED, "recent", mode="verified", status="downloadable")
    _learner_with_certificate(platform, DOTTED, "settled", mode="verified", status="downloadable")
    sql.execute(
        "UPDATE certificates_generatedcertificate c SET modified_date = now() - interval '30 days'"
        " FROM auth_user u WHERE u.id = c.user_id AND u.username IN ('settled', 'not_passing', 'audit_mode')"
    )
    # When the configuration task runs
    _configure(database, client, DOTTED)
    # Then the award re-sent is the downloadable certificate changed longest ago
    [(_, _, award)] = service.requests("POST", AWARD_PATH)
    assert award["username"] == "settled"


def test_an_award_refused_for_a_run_missing_from_the_catalog_leaves_the_type_unknown(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run missing from Credentials' catalog, and a learner holding a certificate
    platform.course_run(DOTTED, modes=("verified",))
    _learner_with_certificate(platform, DOTTED)
    # When the configuration task runs
    outcome = _configure(database, client, DOTTED)
    # Then the award's 400 left the type unknown, and the platform's mode was configured
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["certificate_type"], result["type_known_by"]) == ("verified", "not_learned")
    assert "answered HTTP 400" in result["type_unknown_because"]


def test_awards_going_to_another_credentials_service_do_not_teach_the_configured_ones_type(
    database, platform, sql, http, service
) -> None:  # type: ignore[no-untyped-def]
    # Given course-run awards of org MITx go to their own Credentials service (CREDENTIALS_ORG_URLS)
    mitx = RealCredentials(http, MITX_ROOT)
    client = credentials.CredentialsClient(
        credentials_url=ROOT,
        oauth_url="https://lms.example.com",
        client_id="credsync",
        client_secret="s",
        org_urls={"MITx": MITX_ROOT},
    )
    platform.course_run(DOTTED, modes=("verified",))
    _learner_with_certificate(platform, DOTTED)
    service.catalog.add(DOTTED)
    mitx.has(DOTTED, "professional")
    # When the configuration task runs
    try:
        outcome = _configure(database, client, DOTTED)
    finally:
        client.close()
    # Then no award was re-sent (its answer would speak for the other service), and the reason says so
    assert mitx.calls == []
    assert isinstance(outcome, outcomes.Sent)
    assert MITX_ROOT in outcome.as_result()["type_unknown_because"]


def test_through_the_outbox_a_run_with_another_stored_type_is_done_and_its_later_rows_follow(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run whose first award created a professional certificate in Credentials, while
    # the platform's course mode is now verified
    platform.enable_credentials()
    platform.course_run(DOTTED, modes=("verified", "audit"))
    _learner_with_certificate(platform, DOTTED, mode="professional")
    service.catalog.add(DOTTED)
    harness = CourseHarness(database, client, max_retries=3)
    try:
        platform.enqueue("award_course_certificate", {"username": "ada", "course_run_key": DOTTED})
        harness.drain()
        # When the run's configuration rows follow it through the outbox
        first = platform.enqueue(SUBTASK, {"course_key": DOTTED, "certificate_available_date": None})
        later = platform.enqueue(
            SUBTASK, {"course_key": DOTTED, "certificate_available_date": "2026-07-15T09:30:00Z"}
        )
        harness.drain()
    finally:
        harness.stop()
    # Then every row is done on its first attempt, the configurations on the professional certificate
    rows = {r["id"]: r for r in _outbox_rows(sql)}
    assert [(r["status"], r["attempts"]) for r in rows.values()] == [("done", 1)] * 3
    for row_id in (first, later):
        result = rows[row_id]["result"]
        assert (result["certificate_type"], result["platform_mode"], result["type_known_by"]) == (
            "professional",
            "verified",
            "remembered",
        )
    assert service.certificates[DOTTED]["certificate_available_date"] == "2026-07-15T09:30:00Z"
    assert len(service.requests("POST", CONFIG_PATH)) == 2


# -- the course-run award ------------------------------------------------------------------------


def test_an_award_answer_records_the_stored_mode_beside_the_mode_sent(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run whose certificate Credentials keeps as professional, and a learner's verified certificate
    platform.course_run(DOTTED)
    _learner_with_certificate(platform, DOTTED, mode="verified")
    service.has(DOTTED, "professional")
    # When the award runs
    outcome = _award(database, client, "ada", DOTTED)
    # Then the result shows the mode sent, the mode stored and that they differ
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["mode"], result["stored_mode"], result["mode_differs"]) == (
        "verified",
        "professional",
        True,
    )
    # And the stored type is remembered for the service the award went to
    assert _remembered(sql) == [(ROOT, DOTTED, "professional", "award_answer")]


def test_an_award_that_creates_the_certificate_records_its_own_mode(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run in the catalog without a certificate yet
    platform.course_run(DOTTED)
    _learner_with_certificate(platform, DOTTED, mode="verified")
    service.catalog.add(DOTTED)
    # When the award runs, Then the certificate is created with the learner's mode, and they agree
    outcome = _award(database, client, "ada", DOTTED)
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["stored_mode"], result["mode_differs"]) == ("verified", False)
    assert _remembered(sql) == [(ROOT, DOTTED, "verified", "award_answer")]


def test_a_type_already_known_is_not_rewritten_by_every_award(
    database, platform, sql, service, client
) -> None:  # type: ignore[no-untyped-def]
    # Given a type learned from a lookup
    platform.course_run(DOTTED)
    _learner_with_certificate(platform, DOTTED, mode="verified")
    service.has(DOTTED, "professional")
    book = certificate_types.Book(database)
    assert book.learn(ROOT, DOTTED, "professional", certificate_types.LOOKUP) is True
    before = book.get(ROOT, DOTTED)
    # When an award's answer shows the same type
    _award(database, client, "ada", DOTTED)
    # Then the row is as it was (same source, same time)
    assert book.get(ROOT, DOTTED) == before


# -- against the emulator, through the outbox ----------------------------------------------------
# These need the emulator that models the real service (one certificate per run with the 500, the
# dotted-key 404, mode B attached to type A, a course-run catalog: Emulator.add_course_runs).


@pytest.fixture
def harness(database, platform, credentials_client) -> Iterator[CourseHarness]:  # type: ignore[no-untyped-def]
    platform.enable_credentials()
    h = CourseHarness(database, credentials_client, max_retries=3)
    yield h
    h.stop()


def test_emulator_a_run_first_awarded_in_another_mode_gets_its_date_and_later_rows_are_not_held_back(
    platform, sql, emulator, harness
) -> None:  # type: ignore[no-untyped-def]
    # Given a dotted run in Credentials' catalog whose first award came from a professional certificate,
    # while the platform's course mode is now verified
    emulator.add_course_runs([DOTTED])
    platform.course_run(DOTTED, modes=("verified", "audit"))
    ada = platform.learner("ada")
    platform.certificate(ada["id"], DOTTED, mode="professional")
    platform.enqueue("award_course_certificate", {"username": "ada", "course_run_key": DOTTED})
    harness.drain()
    # When the run's configuration row and a later row of the same run are processed
    config_id = platform.enqueue(SUBTASK, {"course_key": DOTTED, "certificate_available_date": None})
    later_id = platform.enqueue(
        SUBTASK, {"course_key": DOTTED, "certificate_available_date": "2026-07-15T09:30:00Z"}
    )
    harness.drain()
    # Then both are done on their first attempt, on the professional certificate
    rows = {r["id"]: r for r in _outbox_rows(sql)}
    for row_id in (config_id, later_id):
        assert (rows[row_id]["status"], rows[row_id]["attempts"]) == ("done", 1), rows[row_id]
        assert rows[row_id]["result"]["certificate_type"] == "professional"
        assert rows[row_id]["result"]["platform_mode"] == "verified"
        assert rows[row_id]["result"]["differs_from_platform_mode"] is True
    [certificate] = emulator.course_certificates()
    assert (certificate["certificate_type"], certificate["certificate_available_date"]) == (
        "professional",
        "2026-07-15T09:30:00Z",
    )


def test_emulator_a_dotted_run_learns_its_type_from_a_re_sent_award(
    database, platform, sql, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials keeps a professional certificate for a dotted run (made by someone else's award),
    # the platform's mode is verified, and a learner holds a verified certificate
    emulator.add_course_runs([DOTTED])
    credentials_client.post_credential(
        {"username": "someone", "credential": {"course_run_key": DOTTED, "mode": "professional"}}
    )
    platform.course_run(DOTTED, modes=("verified",))
    _learner_with_certificate(platform, DOTTED, mode="verified")
    # When the configuration task runs
    outcome = _configure(database, credentials_client, DOTTED, "2026-07-15T09:30:00Z")
    # Then it set the date on the professional certificate, learned from the learner's award answer
    assert isinstance(outcome, outcomes.Sent)
    result = outcome.as_result()
    assert (result["certificate_type"], result["type_known_by"]) == ("professional", "award_answer")
    [certificate] = emulator.course_certificates()
    assert certificate["certificate_available_date"] == "2026-07-15T09:30:00Z"


def test_emulator_a_dotted_run_that_cannot_learn_its_type_fails_at_once_on_the_500(
    platform, sql, emulator, harness, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials keeps a professional certificate for a dotted run, and nobody on the platform
    # holds a certificate in it
    emulator.add_course_runs([DOTTED])
    credentials_client.post_credential(
        {"username": "someone", "credential": {"course_run_key": DOTTED, "mode": "professional"}}
    )
    platform.course_run(DOTTED, modes=("verified",))
    # When its configuration row runs
    row_id = platform.enqueue(SUBTASK, {"course_key": DOTTED, "certificate_available_date": None})
    harness.drain()
    # Then it failed on its first attempt, explaining the rule, and sent one configuration
    [row] = [r for r in _outbox_rows(sql) if r["id"] == row_id]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "Credentials keeps one certificate per course run" in row["last_error"]
    config_posts = [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == CONFIG_PATH]
    assert [r["status"] for r in config_posts] == [500]


def test_emulator_a_run_key_without_a_dot_is_looked_up(
    database, platform, sql, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials keeps a professional certificate for a run whose key has no dot
    emulator.add_course_runs([PLAIN])
    credentials_client.post_credential(
        {"username": "someone", "credential": {"course_run_key": PLAIN, "mode": "professional"}}
    )
    platform.course_run(PLAIN, modes=("verified",))
    # When the configuration task runs
    outcome = _configure(database, credentials_client, PLAIN)
    # Then the lookup gave the type, and the professional certificate was configured
    assert isinstance(outcome, outcomes.Sent)
    assert (outcome.as_result()["certificate_type"], outcome.as_result()["type_known_by"]) == (
        "professional",
        "lookup",
    )


def test_emulator_an_award_in_another_mode_reports_the_stored_mode(
    database, platform, sql, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials keeps a professional certificate for the run
    emulator.add_course_runs([DOTTED])
    credentials_client.post_credential(
        {"username": "someone", "credential": {"course_run_key": DOTTED, "mode": "professional"}}
    )
    platform.course_run(DOTTED)
    _learner_with_certificate(platform, DOTTED, mode="verified")
    # When a verified certificate is awarded, Then it is attached to the professional certificate
    outcome = _award(database, credentials_client, "ada", DOTTED)
    assert isinstance(outcome, outcomes.Sent)
    assert (outcome.as_result()["stored_mode"], outcome.as_result()["mode_differs"]) == ("professional", True)
    assert [c["certificate_type"] for c in emulator.course_certificates()] == ["professional"]
