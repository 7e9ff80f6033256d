"""award_program_certificates (SPEC §3.1) and revoke_program_certificates (§3.3) on real host tables,
against the Credentials emulator over HTTP (per-program rules: SPEC §5.6, worker/sync/programs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from worker import errors, outcomes
from worker.clients import credentials
from worker.emulator import server
from worker.sync import certificates, host, payloads, programs

CREDENTIALS = "/api/v2/credentials/"
RUN = "course-v1:edX+Shared+2026"


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


P1, P2, P3, P4 = (_uuid(n) for n in (1, 2, 3, 4))


# -- Given helpers -------------------------------------------------------------------------------


def _run_of(uuid: str) -> str:
    return f"course-v1:edX+C{uuid[-4:]}+2026"


def _program(platform: Any, uuid: str, title: str | None = None, runs: tuple[str, ...] = ()) -> None:
    """A catalog program with one course per run key (default: the program's own run)."""
    title = title or f"Program {uuid[-4:]}"
    runs = runs or (_run_of(uuid),)
    courses = [
        {"key": f"edX+K{i}", "course_runs": [{"key": run, "type": "verified"}]} for i, run in enumerate(runs)
    ]
    platform.program(uuid, title, {"uuid": uuid, "title": title, "courses": courses})


def _completed(platform: Any, user_id: int, *uuids: str) -> None:
    """One-course programs the learner completed (a downloadable verified certificate in its run)."""
    for uuid in uuids:
        platform.course_run(_run_of(uuid))
        platform.certificate(user_id, _run_of(uuid), mode="verified", status="downloadable")
        _program(platform, uuid)


def _configure(emulator: server.Emulator, *uuids: str) -> None:
    for uuid in uuids:
        emulator.configure_program(uuid, active=True, course_runs=[])


def _hold(client: credentials.CredentialsClient, username: str, *uuids: str) -> None:
    """The learner already holds these program credentials in Credentials."""
    for uuid in uuids:
        client.post_credential(
            {"username": username, "credential": {"type": "program", "program_uuid": uuid}}
        )


def _fault_on_nth_post(emulator: server.Emulator, n: int, **fault: Any) -> None:
    """Inject ``fault`` into the n-th POST /api/v2/credentials/ from now on (once)."""
    if n > 1:
        # A zero-latency rule answers normally: it lets the first n-1 POSTs through.
        emulator.add_fault(
            server.Fault(method="POST", path_prefix=CREDENTIALS, action="latency", latency_ms=0, times=n - 1)
        )
    emulator.add_fault(server.Fault(method="POST", path_prefix=CREDENTIALS, times=1, **fault))


# -- When helpers --------------------------------------------------------------------------------


def _award(
    database: Any,
    client: credentials.CredentialsClient,
    username: str = "ada",
    rules: certificates.Rules = certificates.DEFAULT_RULES,
) -> outcomes.Outcome:
    payload = payloads.AwardProgramCertificates(username=username)
    return programs.award_program_certificates(host.HostReader(database), client, payload, rules)


def _revoke(
    database: Any, client: credentials.CredentialsClient, username: str = "ada", course_key: str = RUN
) -> outcomes.Outcome:
    payload = payloads.RevokeProgramCertificates(username=username, course_key=course_key)
    return programs.revoke_program_certificates(host.HostReader(database), client, payload)


# -- Then helpers --------------------------------------------------------------------------------


class _Log:
    """The emulator's API requests made after a mark (Given steps' own requests excluded)."""

    def __init__(self, emulator: server.Emulator) -> None:
        self.emulator = emulator
        self.start = len(emulator.requests())

    def all(self) -> list[dict[str, Any]]:
        return self.emulator.requests()[self.start :]

    def api(self) -> list[dict[str, Any]]:
        return [r for r in self.all() if r["path"] == CREDENTIALS]

    def gets(self) -> list[dict[str, Any]]:
        return [r for r in self.api() if r["method"] == "GET"]

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.api() if r["method"] == "POST"]

    def posted(self) -> list[str]:
        """The program uuid of each POST, in order (dropped and rejected ones included)."""
        return [r["json"]["credential"]["program_uuid"] for r in self.posts()]


def _held(emulator: server.Emulator, username: str = "ada") -> dict[str, str]:
    """Program uuid -> status of the learner's program credentials in Credentials."""
    return {
        c["credential"]["program_uuid"]: c["status"]
        for c in emulator.credentials()
        if c["username"] == username and c["credential"]["type"] == "program"
    }


LISTING = {"username": "ada", "status": "awarded", "only_visible": "True", "type": "program"}


# ==============================================================================================
# award_program_certificates
# ==============================================================================================


@pytest.mark.parametrize(
    ("already", "awarded"),
    [([P1], [P2, P3]), ([], [P1, P2, P3]), ([P2], [P1, P3])],
)
def test_award_posts_the_completed_programs_not_yet_awarded_in_uuid_order(
    database, platform, emulator, credentials_client, already: list[str], awarded: list[str]
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed programs 3, 1 and 2 (catalog order shuffled) and already holds some of them
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P3, P1, P2)
    _configure(emulator, P1, P2, P3)
    _hold(credentials_client, "ada", *already)
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, credentials_client)
    # Then it read her awarded program credentials once, then POSTed only the new ones, sorted
    assert [g["query"] for g in log.gets()] == [LISTING]
    assert [p["json"] for p in log.posts()] == [
        {"username": "ada", "lms_user_id": ada["id"], "credential": {"type": "program", "program_uuid": uuid}}
        for uuid in awarded
    ]
    assert [r["method"] for r in log.api()] == ["GET"] + ["POST"] * len(awarded)
    assert all(p["status"] == 201 for p in log.posts())
    # And the outcome says what was done
    assert outcome == outcomes.Sent(
        {
            "user_id": ada["id"],
            "awarded": awarded,
            "rejected": [],
            "completed": [P1, P2, P3],
            "already_awarded": already,
        }
    )
    assert _held(emulator) == dict.fromkeys([P1, P2, P3], "awarded")


def test_award_with_everything_already_awarded_is_skipped_after_the_read(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and holds all three
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _hold(credentials_client, "ada", P1, P2, P3)
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, credentials_client)
    # Then it read, sent nothing, and ends skipped
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_new_programs"
    assert outcome.details == {
        "user_id": ada["id"],
        "completed": [P1, P2, P3],
        "already_awarded": [P1, P2, P3],
    }
    assert [r["method"] for r in log.api()] == ["GET"]


def test_programs_without_certificates_are_never_awarded(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3, 4, holds 1, and program 2 is configured to have no certificate
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3, P4)
    _configure(emulator, P1, P2, P3, P4)
    _hold(credentials_client, "ada", P1)
    log = _Log(emulator)
    rules = certificates.Rules(programs_without_certificates=frozenset({P2}))
    # When the task runs
    outcome = _award(database, credentials_client, rules=rules)
    # Then only 3 and 4 are awarded
    assert log.posted() == [P3, P4]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["awarded"] == [P3, P4]


def test_programs_without_certificates_all_stops_before_any_request(
    database, platform, emulator, credentials_client, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed a program, but no program has certificates ("ALL");
    # the catalog is even unreadable, to show completion is not computed
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    _configure(emulator, P1)
    sql.execute("ALTER TABLE catalog_program RENAME TO catalog_program_elsewhere")
    rules = certificates.Rules(programs_without_certificates=frozenset({"ALL", P2}))
    # When the task runs
    outcome = _award(database, credentials_client, rules=rules)
    # Then it stops quietly: no token, no GET, no POST
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_program_certificates"
    assert emulator.requests() == []


def test_award_for_an_unknown_learner_stops_quietly_without_any_request(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given no user named "nobody"
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    # When the task runs for "nobody"
    outcome = _award(database, credentials_client, "nobody")
    # Then it ends skipped and Credentials heard nothing
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "unknown_learner"
    assert emulator.requests() == []


def test_award_with_no_completed_programs_stops_before_reading_credentials(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada passed one course of a two-course program
    ada = platform.learner("ada")
    platform.course_run(_run_of(P1))
    platform.certificate(ada["id"], _run_of(P1))
    _program(platform, P1, runs=(_run_of(P1), "course-v1:edX+Other+2026"))
    _configure(emulator, P1)
    # When the task runs
    outcome = _award(database, credentials_client)
    # Then it ends skipped without any request (not even the GET of her credentials)
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_completed_programs"
    assert emulator.requests() == []


def test_a_failing_completion_query_raises_before_any_request(
    database, platform, emulator, credentials_client, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed a program, but the catalog table cannot be read
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    _configure(emulator, P1)
    sql.execute("ALTER TABLE catalog_program RENAME TO catalog_program_elsewhere")
    # When the task runs, Then the database error escapes (the outbox retries it) and nothing was sent
    with pytest.raises(errors.DatabaseError):
        _award(database, credentials_client)
    assert emulator.requests() == []


@pytest.fixture
def small_pages() -> Iterator[tuple[server.Emulator, credentials.CredentialsClient]]:
    """An emulator listing 2 credentials per page, with its own client."""
    with server.Emulator(
        port=0, page_size=2, signing_key=b"shared-issuer-key", issuer="http://lms.test/oauth2"
    ) as emu:
        client = credentials.CredentialsClient(
            credentials_url=emu.url,
            oauth_url=emu.url,
            client_id="credsync",
            client_secret="credsync-secret",
            timeout=(2.0, 2.0),
        )
        yield emu, client
        client.close()


def test_award_reads_every_page_of_awarded_programs(database, platform, small_pages) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 7 programs and holds the first 6, listed 2 per page
    emulator, client = small_pages
    ada = platform.learner("ada")
    uuids = [_uuid(n) for n in range(1, 8)]
    _completed(platform, ada["id"], *uuids)
    _configure(emulator, *uuids)
    _hold(client, "ada", *uuids[:6])
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, client)
    # Then it followed the pages (1, 2, 3) and awarded only the 7th
    assert [g["query"].get("page") for g in log.gets()] == [None, "2", "3"]
    assert log.posted() == [uuids[6]]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["already_awarded"] == uuids[:6]


def test_an_unreadable_credentials_list_on_award_counts_as_none_awarded(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2, holds 1, and the GET of her credentials answers 500
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2)
    _hold(credentials_client, "ada", P1)
    emulator.add_fault(server.Fault(method="GET", path_prefix=CREDENTIALS, status=500, times=1))
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, credentials_client)
    # Then every completed program is POSTed (update-or-create: still one credential each)
    assert [g["status"] for g in log.gets()] == [500]
    assert log.posted() == [P1, P2]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["already_awarded"] == []
    assert _held(emulator) == {P1: "awarded", P2: "awarded"}
    assert len(emulator.credentials()) == 2


def test_an_awarded_program_not_visible_yet_is_posted_again_harmlessly(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed program 1 and holds its credential, but not the course credential that makes
    # it visible (SPEC §7 quirk 5)
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    emulator.configure_program(P1, active=True, course_runs=[_run_of(P1)])
    _hold(credentials_client, "ada", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, credentials_client)
    # Then the hidden credential looks "not awarded" and is POSTed again; it is updated, not duplicated
    assert log.posted() == [P1]
    assert isinstance(outcome, outcomes.Sent)
    assert len(emulator.credentials()) == 1


@pytest.mark.parametrize("nth", [1, 2])
def test_a_429_stops_the_award_at_once_and_asks_for_a_retry_after_retry_after(
    database, platform, emulator, credentials_client, nth: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and the nth award answers 429 with Retry-After: 7
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _fault_on_nth_post(emulator, nth, status=429, retry_after_s=7)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _award(database, credentials_client)
    # Then it retries after 7 s; the programs after the throttled one were not attempted
    before = [P1, P2, P3][: nth - 1]
    assert caught.value.delay_ms == 7000
    assert log.posted() == [*before, [P1, P2, P3][nth - 1]]
    assert caught.value.details == {"user_id": ada["id"], "awarded": before, "rejected": []}
    assert _held(emulator) == dict.fromkeys(before, "awarded")
    # When the retry runs
    retry = _Log(emulator)
    outcome = _award(database, credentials_client)
    # Then it awards the rest, and only the rest
    assert retry.posted() == [P1, P2, P3][nth - 1 :]
    assert isinstance(outcome, outcomes.Sent)
    assert _held(emulator) == dict.fromkeys([P1, P2, P3], "awarded")


def test_a_dropped_connection_on_one_program_awards_the_others_and_the_retry_only_that_one(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and the connection of the first award is dropped
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _fault_on_nth_post(emulator, 1, action="drop")
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _award(database, credentials_client)
    # Then 2 and 3 were still awarded in the same run, and the row retries (no Retry-After)
    assert log.posted() == [P1, P2, P3]
    assert [p["status"] for p in log.posts()] == [None, 201, 201]
    assert caught.value.delay_ms is None
    assert caught.value.details == {
        "user_id": ada["id"],
        "awarded": [P2, P3],
        "rejected": [],
        "unreachable": [P1],
    }
    # When the retry runs
    outcome = _award(database, credentials_client)
    # Then it re-read her credentials and POSTed only 1 (4 award POSTs in all)
    assert [r["method"] for r in log.api()] == ["GET", "POST", "POST", "POST", "GET", "POST"]
    assert log.posted() == [P1, P2, P3, P1]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["awarded"] == [P1]
    assert outcome.details["already_awarded"] == [P2, P3]
    assert _held(emulator) == dict.fromkeys([P1, P2, P3], "awarded")


@pytest.mark.parametrize("status", [400, 404, 418, 500])
def test_an_http_error_on_one_program_awards_the_others_then_fails_naming_it(
    database, platform, emulator, credentials_client, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and Credentials answers `status` to the award of 2
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _fault_on_nth_post(emulator, 2, status=status)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.PermanentSyncError) as caught:
        _award(database, credentials_client)
    # Then 1 and 3 were awarded, and the row fails (no retry) naming program 2 and the answer
    assert log.posted() == [P1, P2, P3]
    assert f"{P2}: HTTP {status}" in str(caught.value)
    assert caught.value.details is not None
    assert caught.value.details["awarded"] == [P1, P3]
    assert [(r["program_uuid"], r["status"]) for r in caught.value.details["rejected"]] == [(P2, status)]
    assert '"injected"' in caught.value.details["rejected"][0]["answer"]
    assert _held(emulator) == {P1: "awarded", P3: "awarded"}


@pytest.mark.parametrize("configuration", ["inactive", "unconfigured"])
def test_a_program_that_credentials_rejects_fails_with_its_real_400_answer(
    database, platform, emulator, credentials_client, configuration: str
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2, and program 2 is inactive (or not configured) in Credentials
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1)
    if configuration == "inactive":
        emulator.configure_program(P2, active=False, course_runs=[])
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.PermanentSyncError) as caught:
        _award(database, credentials_client)
    # Then 1 is awarded and the row fails with Credentials' own explanation for 2
    assert [p["status"] for p in log.posts()] == [201, 400]
    assert f"{P2}: HTTP 400" in str(caught.value)
    assert f"No active ProgramCertificate exists for program [{P2}]" in str(caught.value)
    assert caught.value.details is not None
    assert caught.value.details["awarded"] == [P1]
    # When someone configures program 2 and the row is retried
    _configure(emulator, P2)
    retry = _Log(emulator)
    outcome = _award(database, credentials_client)
    # Then program 1 is read back and not sent again: only 2 is POSTed
    assert retry.posted() == [P2]
    assert isinstance(outcome, outcomes.Sent)
    assert _held(emulator) == {P1: "awarded", P2: "awarded"}


def test_an_unavailable_token_endpoint_during_award_retries_instead_of_failing_the_programs(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2, and the OAuth2 token endpoint answers 503
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2)
    emulator.add_fault(server.Fault(method="POST", path_prefix="/oauth2/", status=503))
    log = _Log(emulator)
    # When the task runs
    # Then no program reached Credentials, so the row retries (upstream: a client that cannot be built
    # raises and retries, SPEC §3.1 step 8); it is not a program configuration to fix
    with pytest.raises(errors.TransientSyncError):
        _award(database, credentials_client)
    assert log.posts() == []


def test_an_unavailable_token_endpoint_during_revoke_retries_instead_of_failing_the_programs(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 of the run (the client has a token, used by the GET); the revocation
    # answers 401 and the token endpoint then answers 503 to the new token the client asks for
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    emulator.add_fault(server.Fault(method="POST", path_prefix="/oauth2/", status=503))
    _fault_on_nth_post(emulator, 1, status=401)
    # When the task runs
    # Then the row retries; nothing was revoked
    with pytest.raises(errors.TransientSyncError):
        _revoke(database, credentials_client)
    assert _held(emulator) == {P1: "awarded"}


# ==============================================================================================
# revoke_program_certificates
# ==============================================================================================


def _engaged(platform: Any, *programs_: tuple[str, str], active: bool = True) -> dict[str, Any]:
    """Ada, actively (or not) enrolled in RUN, which belongs to the given (uuid, title) programs."""
    ada: dict[str, Any] = platform.learner("ada")
    platform.enroll(ada["id"], RUN, active=active)
    for uuid, title in programs_:
        _program(platform, uuid, title, runs=(RUN, _run_of(uuid)))
    return ada


def test_revoke_posts_a_revocation_for_the_held_program_of_the_run(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada is enrolled in a run of program 1 and holds program 1's credential
    ada = _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    log = _Log(emulator)
    # When the task runs for that run
    outcome = _revoke(database, credentials_client)
    # Then it read her awarded program credentials and revoked program 1 with the upstream body
    assert [g["query"] for g in log.gets()] == [LISTING]
    assert [p["json"] for p in log.posts()] == [
        {"username": "ada", "status": "revoked", "credential": {"type": "program", "program_uuid": P1}}
    ]
    assert outcome == outcomes.Sent(
        {"user_id": ada["id"], "revoked": [P1], "rejected": [], "course_key": RUN, "engaged": [P1]}
    )
    assert _held(emulator) == {P1: "revoked"}


def test_revoke_goes_through_the_programs_in_title_order_and_only_the_held_ones(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given the run belongs to four programs titled out of uuid order; Ada holds three of them
    _engaged(platform, (P1, "Zeta"), (P2, "Alpha"), (P3, "Mu"), (P4, "Beta"))
    _configure(emulator, P1, P2, P3, P4)
    _hold(credentials_client, "ada", P1, P2, P3)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, credentials_client)
    # Then the held ones are revoked in title order: Alpha, Mu, Zeta (Beta is not held)
    assert log.posted() == [P2, P3, P1]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["engaged"] == [P2, P4, P3, P1]
    assert _held(emulator) == {P1: "revoked", P2: "revoked", P3: "revoked"}


def test_revoke_does_not_recheck_completion_through_another_run(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 and still has a passing certificate in its other run (SPEC §7 quirk 6)
    ada = _engaged(platform, (P1, "Program One"))
    platform.course_run(_run_of(P1))
    platform.certificate(ada["id"], _run_of(P1))
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    # When the task runs for RUN, Then program 1 is revoked all the same
    assert isinstance(_revoke(database, credentials_client), outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


@pytest.mark.parametrize("enrollment", ["inactive", "none"])
def test_revoke_needs_an_active_enrollment_in_the_run(
    database, platform, emulator, credentials_client, enrollment: str
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1, whose run she is no longer (or never was) enrolled in
    ada = platform.learner("ada")
    if enrollment == "inactive":
        platform.enroll(ada["id"], RUN, active=False)
    _program(platform, P1, "Program One", runs=(RUN,))
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, credentials_client)
    # Then she is engaged in no program through the run: skipped, not even a GET
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_engaged_programs"
    assert log.all() == []
    assert _held(emulator) == {P1: "awarded"}


def test_revoke_for_a_run_in_no_program_stops_before_reading_credentials(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada is actively enrolled in a run that no program lists
    ada = platform.learner("ada")
    platform.enroll(ada["id"], RUN)
    _program(platform, P1, "Program One")
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, credentials_client)
    # Then skipped without any request
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_engaged_programs"
    assert outcome.details == {"user_id": ada["id"], "course_key": RUN}
    assert log.all() == []


def test_revoke_for_an_unknown_learner_stops_quietly_without_any_request(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given no user named "nobody"
    _engaged(platform, (P1, "Program One"))
    # When the task runs for "nobody", Then it ends skipped and Credentials heard nothing
    outcome = _revoke(database, credentials_client, "nobody")
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "unknown_learner"
    assert emulator.requests() == []


@pytest.mark.parametrize("held", ["nothing", "already revoked", "another learner's"])
def test_revoke_with_no_awarded_program_credential_is_skipped_after_the_read(
    database, platform, emulator, credentials_client, held: str
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada is engaged in program 1 but holds no awarded credential for it
    ada = _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1)
    if held == "already revoked":
        credentials_client.post_credential(
            {"username": "ada", "status": "revoked", "credential": {"type": "program", "program_uuid": P1}}
        )
    elif held == "another learner's":
        _hold(credentials_client, "bob", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, credentials_client)
    # Then it read, sent nothing, and ends skipped
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_program_certificates_to_revoke"
    assert outcome.details == {"user_id": ada["id"], "course_key": RUN, "engaged": [P1]}
    assert [r["method"] for r in log.api()] == ["GET"]


def test_an_awarded_program_credential_not_visible_yet_is_not_revoked(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given program 1 is configured with RUN, and Ada holds its credential but no course credential for
    # RUN, so Credentials does not list it with only_visible (SPEC §7 quirk 5)
    _engaged(platform, (P1, "Program One"))
    emulator.configure_program(P1, active=True, course_runs=[RUN])
    _hold(credentials_client, "ada", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, credentials_client)
    # Then the credential looks not awarded and stays awarded
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_program_certificates_to_revoke"
    assert log.posts() == []
    assert _held(emulator) == {P1: "awarded"}
    # When her course credential for RUN is awarded and the task runs again
    credentials_client.post_credential(
        {"username": "ada", "credential": {"type": "course-run", "course_run_key": RUN, "mode": "verified"}}
    )
    outcome = _revoke(database, credentials_client)
    # Then the program credential is visible, hence revoked
    assert isinstance(outcome, outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


@pytest.mark.parametrize(
    ("fault", "delay_ms"),
    [
        (server.Fault(method="GET", path_prefix=CREDENTIALS, status=500, times=1), None),
        (server.Fault(method="GET", path_prefix=CREDENTIALS, status=429, retry_after_s=7, times=1), 7000),
        (server.Fault(method="GET", path_prefix=CREDENTIALS, action="drop", times=1), None),
    ],
    ids=["500", "429", "drop"],
)
def test_an_unreadable_credentials_list_on_revoke_retries_and_revokes_nothing(
    database, platform, emulator, credentials_client, fault: server.Fault, delay_ms: int | None
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 of the run, and the GET of her credentials fails
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    emulator.add_fault(fault)
    log = _Log(emulator)
    # When the task runs, Then it asks for a retry: a failed read is never "nothing awarded"
    with pytest.raises(errors.TransientSyncError) as caught:
        _revoke(database, credentials_client)
    assert caught.value.delay_ms == delay_ms
    assert [r["method"] for r in log.api()] == ["GET"]
    assert _held(emulator) == {P1: "awarded"}
    # When the retry runs, Then it revokes program 1
    assert isinstance(_revoke(database, credentials_client), outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


def test_a_429_stops_the_revocation_at_once_and_the_retry_revokes_both(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds programs "A" (uuid 2) and "B" (uuid 1) of the run, and the first revocation is throttled
    ada = _engaged(platform, (P1, "B"), (P2, "A"))
    _configure(emulator, P1, P2)
    _hold(credentials_client, "ada", P1, P2)
    _fault_on_nth_post(emulator, 1, status=429, retry_after_s=7)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _revoke(database, credentials_client)
    # Then it stopped at the first program, to be retried after 7 s
    assert caught.value.delay_ms == 7000
    assert log.posted() == [P2]
    assert caught.value.details == {"user_id": ada["id"], "revoked": [], "rejected": []}
    # When the retry runs, Then it revokes both, in title order
    retry = _Log(emulator)
    assert isinstance(_revoke(database, credentials_client), outcomes.Sent)
    assert retry.posted() == [P2, P1]
    assert _held(emulator) == {P1: "revoked", P2: "revoked"}


def test_a_dropped_connection_on_one_revocation_revokes_the_others_and_the_retry_only_that_one(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds programs "A" (uuid 2) and "B" (uuid 1) of the run; the first revocation is dropped
    ada = _engaged(platform, (P1, "B"), (P2, "A"))
    _configure(emulator, P1, P2)
    _hold(credentials_client, "ada", P1, P2)
    _fault_on_nth_post(emulator, 1, action="drop")
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _revoke(database, credentials_client)
    # Then "B" was still revoked, and the row retries
    assert log.posted() == [P2, P1]
    assert caught.value.details == {
        "user_id": ada["id"],
        "revoked": [P1],
        "rejected": [],
        "unreachable": [P2],
    }
    assert _held(emulator) == {P1: "revoked", P2: "awarded"}
    # When the retry runs, Then it re-reads and revokes only "A"
    retry = _Log(emulator)
    outcome = _revoke(database, credentials_client)
    assert [r["method"] for r in retry.api()] == ["GET", "POST"]
    assert retry.posted() == [P2]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["revoked"] == [P2]
    assert _held(emulator) == {P1: "revoked", P2: "revoked"}


@pytest.mark.parametrize("status", [400, 404, 418, 500])
def test_an_http_error_on_one_revocation_revokes_the_others_then_fails_naming_it(
    database, platform, emulator, credentials_client, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds programs "A" (uuid 2), "B" (uuid 1), "C" (uuid 3); revoking "B" answers `status`
    _engaged(platform, (P1, "B"), (P2, "A"), (P3, "C"))
    _configure(emulator, P1, P2, P3)
    _hold(credentials_client, "ada", P1, P2, P3)
    _fault_on_nth_post(emulator, 2, status=status)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.PermanentSyncError) as caught:
        _revoke(database, credentials_client)
    # Then "A" and "C" were revoked, and the row fails naming program 1 and the answer
    assert log.posted() == [P2, P1, P3]
    assert f"{P1}: HTTP {status}" in str(caught.value)
    assert caught.value.details is not None
    assert caught.value.details["revoked"] == [P2, P3]
    assert [(r["program_uuid"], r["status"]) for r in caught.value.details["rejected"]] == [(P1, status)]
    assert _held(emulator) == {P1: "awarded", P2: "revoked", P3: "revoked"}


def test_revoking_a_program_deactivated_in_credentials_fails_with_its_real_400_answer(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1, whose certificate configuration was since deactivated
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1)
    _hold(credentials_client, "ada", P1)
    emulator.configure_program(P1, active=False, course_runs=[])
    # When the task runs, Then the row fails with Credentials' explanation
    with pytest.raises(errors.PermanentSyncError) as caught:
        _revoke(database, credentials_client)
    assert f"{P1}: HTTP 400" in str(caught.value)
    assert f"No active ProgramCertificate exists for program [{P1}]" in str(caught.value)
    assert _held(emulator) == {P1: "awarded"}
