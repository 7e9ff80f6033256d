"""award_program_certificates (SPEC §3.1) and revoke_program_certificates (§3.3) on real host tables,
against the Credentials emulator over HTTP in its default mode, a default install (per-program
rules: SPEC §5.6, worker/sync/programs.py).

What a default install needs of a Given step: a learner's account exists only once she signed in
(a first program credential for a username without one answers 500), and a program credential is
listed (``only_visible``) only when she holds a course-run credential in one of the program's runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests import rig
from worker import errors, outcomes
from worker.clients import credentials, holds
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


def _configure(
    emulator: server.Emulator, *uuids: str, runs: tuple[str, ...] = (), active: bool = True
) -> None:
    """Program certificates configured in Credentials, each program with its real course runs in
    Credentials' catalog: the shared ``runs`` and the program's own run."""
    for uuid in uuids:
        emulator.configure_program(uuid, active=active, course_runs=[*runs, _run_of(uuid)])


def _course_credential(client: credentials.CredentialsClient, username: str, run: str) -> None:
    """The learner's course certificate in ``run`` reached Credentials, as award_course_certificate
    posts it (the run must be in Credentials' catalog)."""
    client.post_credential(
        {
            "username": username,
            "status": "awarded",
            "credential": {"course_run_key": run, "mode": "verified", "type": "course-run"},
        }
    )


def _course_credentials(client: credentials.CredentialsClient, username: str, *uuids: str) -> None:
    """Her course credential in each program's own run: what makes her program credentials listed."""
    for uuid in uuids:
        _course_credential(client, username, _run_of(uuid))


def _hold(
    client: credentials.CredentialsClient,
    emulator: server.Emulator,
    username: str,
    *uuids: str,
    status: str = "awarded",
) -> None:
    """The learner once signed in to Credentials (her account) and holds these program credentials.

    Credentials lists one only while she also holds a course credential in one of its runs.
    """
    rig.sign_in(emulator, username)
    for uuid in uuids:
        client.post_credential(
            {"username": username, "status": status, "credential": {"type": "program", "program_uuid": uuid}}
        )


def _fault_on_nth_post(emulator: server.Emulator, n: int, **fault: Any) -> None:
    """Inject ``fault`` into the n-th POST /api/v2/credentials/ from now on (once)."""
    if n > 1:
        # A zero-latency rule answers normally: it lets the first n-1 POSTs through.
        emulator.add_fault(
            server.Fault(method="POST", path_prefix=CREDENTIALS, action="latency", latency_ms=0, times=n - 1)
        )
    emulator.add_fault(server.Fault(method="POST", path_prefix=CREDENTIALS, times=1, **fault))


@pytest.fixture
def oauth_client(database: Any, emulator: server.Emulator) -> Iterator[credentials.CredentialsClient]:
    """The OAuth-only setup (no LMS_JWT_*): every call, reads included, with the service user's token
    from the token endpoint (a default install refuses its reads without the view grant)."""
    client = rig.client(database, emulator, signed=False)
    yield client
    client.close()


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


def _program_credentials(emulator: server.Emulator, username: str = "ada") -> list[dict[str, Any]]:
    """The learner's program credentials in Credentials, one per stored row."""
    return [
        c
        for c in emulator.credentials()
        if c["username"] == username and c["credential"]["type"] == "program"
    ]


def _held(emulator: server.Emulator, username: str = "ada") -> dict[str, str]:
    """Program uuid -> status of the learner's program credentials in Credentials."""
    return {c["credential"]["program_uuid"]: c["status"] for c in _program_credentials(emulator, username)}


def _due_after(deferred: errors.DeferredSyncError, before: float, wait_s: float, slack_s: float = 0) -> bool:
    """The deferred row is due ``wait_s`` (less at most ``slack_s``) after it ran, since ``before``."""
    return before + wait_s - slack_s <= deferred.until <= time.time() + wait_s


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
    # Given Ada completed programs 3, 1 and 2 (catalog order shuffled), her course credentials are in
    # Credentials, and she already holds some of the programs
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P3, P1, P2)
    _configure(emulator, P1, P2, P3)
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _hold(credentials_client, emulator, "ada", *already)
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
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _hold(credentials_client, emulator, "ada", P1, P2, P3)
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
    _course_credentials(credentials_client, "ada", P1, P2, P3, P4)
    _hold(credentials_client, emulator, "ada", P1)
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
    _configure(emulator, P1, runs=("course-v1:edX+Other+2026",))
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
def small_pages(database, platform) -> Iterator[tuple[server.Emulator, credentials.CredentialsClient]]:  # type: ignore[no-untyped-def]
    """An emulator listing 2 credentials per page (a default install otherwise), with its own signing
    client (the service user on the host)."""
    platform.service_user()
    with rig.emulator(page_size=2) as emu:
        client = rig.client(database, emu)
        yield emu, client
        client.close()


def test_award_reads_every_page_of_awarded_programs(database, platform, small_pages) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 7 programs and holds the first 6, listed 2 per page
    emulator, client = small_pages
    ada = platform.learner("ada")
    uuids = [_uuid(n) for n in range(1, 8)]
    _completed(platform, ada["id"], *uuids)
    _configure(emulator, *uuids)
    _course_credentials(client, "ada", *uuids)
    _hold(client, emulator, "ada", *uuids[:6])
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, client)
    # Then it followed the pages (1, 2, 3) and awarded only the 7th
    assert [g["query"].get("page") for g in log.gets()] == [None, "2", "3"]
    assert log.posted() == [uuids[6]]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["already_awarded"] == uuids[:6]


def test_award_stops_reading_pages_once_every_completed_program_is_seen(
    database, platform, small_pages
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds 7 programs, listed 2 per page, of which she (still) completes only the first two
    emulator, client = small_pages
    ada = platform.learner("ada")
    uuids = [_uuid(n) for n in range(1, 8)]
    _completed(platform, ada["id"], *uuids[:2])
    _configure(emulator, *uuids)
    _course_credentials(client, "ada", *uuids)
    _hold(client, emulator, "ada", *uuids)
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, client)
    # Then it read the first page only (each page counts against her read throttle) and sent nothing
    assert [g["query"].get("page") for g in log.gets()] == [None]
    assert log.posts() == []
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_new_programs"
    assert outcome.details is not None
    assert outcome.details["already_awarded"] == uuids[:2]


def test_an_unreadable_credentials_list_on_award_counts_as_none_awarded(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2, holds 1, and the GET of her credentials answers 500
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2)
    _course_credentials(credentials_client, "ada", P1, P2)
    _hold(credentials_client, emulator, "ada", P1)
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
    assert len(_program_credentials(emulator)) == 2


def test_a_first_award_after_a_failed_read_gets_the_500_of_a_missing_account_and_the_retry_awards_it(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada never used Credentials (no account there), completed program 1, and the GET of her
    # credentials (the learner's own read, which would create her account) answers 500
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    _configure(emulator, P1)
    _course_credentials(credentials_client, "ada", P1)
    emulator.add_fault(server.Fault(method="GET", path_prefix=CREDENTIALS, status=500, times=1))
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _award(database, credentials_client)
    # Then Credentials' learner records code answered 500 to the award and stored nothing: the row
    # retries with backoff (it is not a rejection)
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 500), ("POST", 500)]
    assert "ada" not in [a["username"] for a in emulator.accounts()]
    assert caught.value.delay_ms is None
    assert caught.value.details is not None
    assert [(e["program_uuid"], e["status"]) for e in caught.value.details["server_errors"]] == [(P1, 500)]
    assert caught.value.details["rejected"] == []
    assert _held(emulator) == {}
    # When the retry runs
    retry = _Log(emulator)
    outcome = _award(database, credentials_client)
    # Then its read creates her account and program 1 is awarded
    assert [(r["method"], r["status"]) for r in retry.api()] == [("GET", 200), ("POST", 201)]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["awarded"] == [P1]
    assert _held(emulator) == {P1: "awarded"}


def test_an_awarded_program_not_visible_yet_is_posted_again_harmlessly(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed program 1 and holds its credential, but not the course credential that makes
    # it visible (SPEC §7 quirk 5)
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    _configure(emulator, P1)
    _hold(credentials_client, emulator, "ada", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _award(database, credentials_client)
    # Then the hidden credential looks "not awarded" and is POSTed again; it is updated, not duplicated
    assert log.posted() == [P1]
    assert isinstance(outcome, outcomes.Sent)
    assert len(emulator.credentials()) == 1


@pytest.mark.parametrize(("retry_after_s", "wait_s"), [(7, 7), (None, 60)], ids=["retry-after 7", "none"])
def test_a_throttled_read_defers_the_award_until_retry_after_and_sends_nothing(
    database, platform, emulator, credentials_client, retry_after_s: int | None, wait_s: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2, holds 1, and the GET of her credentials answers 429 (Retry-After: 7,
    # or none: the learner throttle's minute)
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2)
    _course_credentials(credentials_client, "ada", P1, P2)
    _hold(credentials_client, emulator, "ada", P1)
    emulator.add_fault(
        server.Fault(method="GET", path_prefix=CREDENTIALS, status=429, retry_after_s=retry_after_s, times=1)
    )
    log = _Log(emulator)
    # When the task runs
    before = time.time()
    with pytest.raises(errors.DeferredSyncError) as caught:
        _award(database, credentials_client)
    # Then the row waits (no attempt used) until the throttle lets her read again, and nothing was sent:
    # a throttled read is not "none held", which would send program 1 again
    assert _due_after(caught.value, before, wait_s)
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 429)]
    # When it runs again after the wait
    retry = _Log(emulator)
    outcome = _award(database, credentials_client)
    # Then it awards only program 2
    assert retry.posted() == [P2]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["already_awarded"] == [P1]
    assert _held(emulator) == {P1: "awarded", P2: "awarded"}


def test_without_the_view_grant_an_oauth_only_award_waits_unspent_and_sends_nothing(
    database, platform, emulator, oauth_client
) -> None:  # type: ignore[no-untyped-def]
    # Given the OAuth-only setup on a default install (Admins lack view_usercredential), and Ada
    # completed program 1
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1)
    _configure(emulator, P1)
    log = _Log(emulator)
    # When the task runs
    before = time.time()
    with pytest.raises(errors.DeferredSyncError) as caught:
        _award(database, oauth_client)
    # Then the staff token's read of her credentials is refused (403): the row waits without using an
    # attempt until the refusal is asked about again, and no award was sent blind
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 403)]
    assert _due_after(caught.value, before, holds.REFUSAL_RECHECK_S)
    assert _held(emulator) == {}


def test_a_refused_award_waits_unspent_keeping_the_programs_already_awarded(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and Credentials refuses (403) the award of 2
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _fault_on_nth_post(emulator, 2, status=403)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.DeferredSyncError) as caught:
        _award(database, credentials_client)
    # Then it stopped there (3 was not attempted) and the row waits, saying what was awarded
    assert log.posted() == [P1, P2]
    assert caught.value.details == {"user_id": ada["id"], "awarded": [P1], "rejected": []}
    assert _held(emulator) == {P1: "awarded"}


@pytest.mark.parametrize("nth", [1, 2])
def test_a_429_stops_the_award_at_once_and_asks_for_a_retry_after_retry_after(
    database, platform, emulator, credentials_client, nth: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and the nth award answers 429 with Retry-After: 7
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _course_credentials(credentials_client, "ada", P1, P2, P3)
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


def test_a_429_after_a_server_error_keeps_the_server_error_in_the_rows_details(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2; the award of 1 answers 500, then the award of 2 answers 429
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2)
    _course_credentials(credentials_client, "ada", P1, P2)
    emulator.add_fault(server.Fault(method="POST", path_prefix=CREDENTIALS, status=500, times=1))
    emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, status=429, retry_after_s=7, times=1)
    )
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _award(database, credentials_client)
    # Then the row's details still say that program 1 met a server error
    assert caught.value.delay_ms == 7000
    assert [e["program_uuid"] for e in caught.value.details["server_errors"]] == [P1]
    assert caught.value.details["awarded"] == []


def test_programs_without_certificates_are_not_looked_for_so_the_read_stops_early(
    database, platform, small_pages
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2 and holds 1, 3 and 4 (2 per page); 2 never gets a certificate
    emulator, client = small_pages
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2, P3, P4)
    _course_credentials(client, "ada", P1, P2, P3, P4)
    _hold(client, emulator, "ada", P1, P3, P4)
    log = _Log(emulator)
    # When the award runs with 2 among the programs without certificates
    rules = certificates.Rules(programs_without_certificates=frozenset({P2}))
    outcome = _award(database, client, rules=rules)
    # Then the first page (holding 1) was enough: 2 was not looked for on the next one
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_new_programs"
    assert [g["query"].get("page") for g in log.gets()] == [None]


def test_a_dropped_connection_on_one_program_awards_the_others_and_the_retry_only_that_one(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and the connection of the first award is dropped
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _course_credentials(credentials_client, "ada", P1, P2, P3)
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


@pytest.mark.parametrize("status", [400, 404, 418])
def test_a_4xx_on_one_program_awards_the_others_then_fails_naming_it(
    database, platform, emulator, credentials_client, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and Credentials answers `status` to the award of 2
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _course_credentials(credentials_client, "ada", P1, P2, P3)
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


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_on_one_program_awards_the_others_and_the_retry_sends_only_that_one(
    database, platform, emulator, credentials_client, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1, 2, 3 and Credentials answers `status` (its HTML error page) to the award of 2
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2, P3)
    _configure(emulator, P1, P2, P3)
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _fault_on_nth_post(emulator, 2, status=status)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _award(database, credentials_client)
    # Then 1 and 3 were awarded, and the row retries with backoff (a server error is not a rejection),
    # naming program 2 and the answer
    assert log.posted() == [P1, P2, P3]
    assert caught.value.delay_ms is None
    assert P2 in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)
    details = caught.value.details
    assert details is not None
    assert {k: v for k, v in details.items() if k != "server_errors"} == {
        "user_id": ada["id"],
        "awarded": [P1, P3],
        "rejected": [],
    }
    assert [(e["program_uuid"], e["status"]) for e in details["server_errors"]] == [(P2, status)]
    assert "Server Error" in details["server_errors"][0]["answer"]
    assert _held(emulator) == {P1: "awarded", P3: "awarded"}
    # When the retry runs
    retry = _Log(emulator)
    outcome = _award(database, credentials_client)
    # Then it reads 1 and 3 back and sends only 2
    assert [r["method"] for r in retry.api()] == ["GET", "POST"]
    assert retry.posted() == [P2]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["already_awarded"] == [P1, P3]
    assert _held(emulator) == dict.fromkeys([P1, P2, P3], "awarded")


@pytest.mark.parametrize("configuration", ["inactive", "unconfigured"])
def test_a_program_that_credentials_rejects_fails_with_its_real_400_answer(
    database, platform, emulator, credentials_client, configuration: str
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada completed 1 and 2 (her course credentials are in Credentials), and program 2's
    # certificate is inactive (or not configured) in Credentials
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1)
    if configuration == "inactive":
        _configure(emulator, P2, active=False)
    else:
        emulator.add_course_runs([_run_of(P2)])
    _course_credentials(credentials_client, "ada", P1, P2)
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
    database, platform, emulator, oauth_client
) -> None:  # type: ignore[no-untyped-def]
    # Given the OAuth-only setup with the view grant, Ada completed 1 and 2, and the OAuth2 token
    # endpoint answers 503
    emulator.set_switches(admins_can_view=True)
    ada = platform.learner("ada")
    _completed(platform, ada["id"], P1, P2)
    _configure(emulator, P1, P2)
    emulator.add_fault(server.Fault(method="POST", path_prefix="/oauth2/", status=503))
    log = _Log(emulator)
    # When the task runs
    # Then no request reached the API, so the row retries (upstream: a client that cannot be built
    # raises and retries, SPEC §3.1 step 8); it is not a program configuration to fix
    with pytest.raises(errors.TransientSyncError):
        _award(database, oauth_client)
    assert log.api() == []
    assert {(r["path"], r["status"]) for r in log.all()} == {("/oauth2/access_token", 503)}


def test_an_unavailable_token_endpoint_during_revoke_retries_instead_of_failing_the_programs(
    database, platform, emulator, oauth_client
) -> None:  # type: ignore[no-untyped-def]
    # Given the OAuth-only setup with the view grant; Ada holds program 1 of the run (the client has a
    # token, used by the GET); the revocation answers 401 and the token endpoint then answers 503 to
    # the new token the client asks for
    emulator.set_switches(admins_can_view=True)
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(oauth_client, "ada", P1)
    _hold(oauth_client, emulator, "ada", P1)
    emulator.add_fault(server.Fault(method="POST", path_prefix="/oauth2/", status=503))
    _fault_on_nth_post(emulator, 1, status=401)
    log = _Log(emulator)
    # When the task runs
    # Then the row retries; nothing was revoked
    with pytest.raises(errors.TransientSyncError):
        _revoke(database, oauth_client)
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 200), ("POST", 401)]
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
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
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
    _configure(emulator, P1, P2, P3, P4, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _hold(credentials_client, emulator, "ada", P1, P2, P3)
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
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
    # When the task runs for RUN, Then program 1 is revoked all the same
    assert isinstance(_revoke(database, credentials_client), outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


@pytest.mark.parametrize("enrollment", ["inactive", "none"])
def test_revoke_needs_an_active_enrollment_in_the_run(
    database, platform, emulator, credentials_client, enrollment: str
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 (listed), whose run she is no longer (or never was) enrolled in
    ada = platform.learner("ada")
    if enrollment == "inactive":
        platform.enroll(ada["id"], RUN, active=False)
    _program(platform, P1, "Program One", runs=(RUN,))
    emulator.configure_program(P1, active=True, course_runs=[RUN])
    _course_credential(credentials_client, "ada", RUN)
    _hold(credentials_client, emulator, "ada", P1)
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
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
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
    # Given Ada is engaged in program 1 (her course credential would make it listed) but holds no
    # awarded credential for it
    ada = _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    if held == "already revoked":
        _hold(credentials_client, emulator, "ada", P1, status="revoked")
    elif held == "another learner's":
        _course_credentials(credentials_client, "bob", P1)
        _hold(credentials_client, emulator, "bob", P1)
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
    _hold(credentials_client, emulator, "ada", P1)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, credentials_client)
    # Then the credential looks not awarded and stays awarded
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "no_program_certificates_to_revoke"
    assert log.posts() == []
    assert _held(emulator) == {P1: "awarded"}
    # When her course credential for RUN is awarded and the task runs again
    _course_credential(credentials_client, "ada", RUN)
    outcome = _revoke(database, credentials_client)
    # Then the program credential is visible, hence revoked
    assert isinstance(outcome, outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


def test_revoke_stops_reading_pages_once_every_engaged_program_is_seen(
    database, platform, small_pages
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds 7 programs, listed 2 per page, and the run belongs to the third one only
    emulator, client = small_pages
    uuids = [_uuid(n) for n in range(1, 8)]
    _engaged(platform, (uuids[2], "Program Three"))
    _configure(emulator, *uuids, runs=(RUN,))
    _course_credentials(client, "ada", *uuids)
    _hold(client, emulator, "ada", *uuids)
    log = _Log(emulator)
    # When the task runs
    outcome = _revoke(database, client)
    # Then it read pages 1 and 2 (where program 3 is listed), not the rest, and revoked program 3
    assert [g["query"].get("page") for g in log.gets()] == [None, "2"]
    assert log.posted() == [uuids[2]]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["revoked"] == [uuids[2]]


@pytest.mark.parametrize(
    "fault",
    [
        server.Fault(method="GET", path_prefix=CREDENTIALS, status=500, times=1),
        server.Fault(method="GET", path_prefix=CREDENTIALS, action="drop", times=1),
    ],
    ids=["500", "drop"],
)
def test_an_unreadable_credentials_list_on_revoke_retries_and_revokes_nothing(
    database, platform, emulator, credentials_client, fault: server.Fault
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 of the run, and the GET of her credentials fails
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
    emulator.add_fault(fault)
    log = _Log(emulator)
    # When the task runs, Then it asks for a retry: a failed read is never "nothing awarded"
    with pytest.raises(errors.TransientSyncError) as caught:
        _revoke(database, credentials_client)
    assert caught.value.delay_ms is None
    assert [r["method"] for r in log.api()] == ["GET"]
    assert _held(emulator) == {P1: "awarded"}
    # When the retry runs, Then it revokes program 1
    assert isinstance(_revoke(database, credentials_client), outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


@pytest.mark.parametrize(("retry_after_s", "wait_s"), [(7, 7), (None, 60)], ids=["retry-after 7", "none"])
def test_a_throttled_read_defers_the_revocation_until_retry_after_and_revokes_nothing(
    database, platform, emulator, credentials_client, retry_after_s: int | None, wait_s: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 of the run, and the GET of her credentials answers 429 (Retry-After: 7,
    # or none: the learner throttle's minute)
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
    emulator.add_fault(
        server.Fault(method="GET", path_prefix=CREDENTIALS, status=429, retry_after_s=retry_after_s, times=1)
    )
    log = _Log(emulator)
    # When the task runs
    before = time.time()
    with pytest.raises(errors.DeferredSyncError) as caught:
        _revoke(database, credentials_client)
    # Then the row waits (no attempt used) until she may read again; nothing was revoked
    assert _due_after(caught.value, before, wait_s)
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 429)]
    assert _held(emulator) == {P1: "awarded"}
    # When it runs again after the wait, Then it revokes program 1
    assert isinstance(_revoke(database, credentials_client), outcomes.Sent)
    assert _held(emulator) == {P1: "revoked"}


def test_a_learner_who_used_up_her_reads_defers_the_revocation_for_the_throttles_minute(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1 of the run and already read her credentials 15 times this minute
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
    for _ in range(14):
        rig.sign_in(emulator, "ada")
    log = _Log(emulator)
    # When the task runs
    before = time.time()
    with pytest.raises(errors.DeferredSyncError) as caught:
        _revoke(database, credentials_client)
    # Then Credentials' own throttle answered 429 (Retry-After: about a minute) and the row waits that
    # long, unspent; nothing was revoked
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 429)]
    assert _due_after(caught.value, before, 60, slack_s=2)
    assert _held(emulator) == {P1: "awarded"}


def test_a_429_stops_the_revocation_at_once_and_the_retry_revokes_both(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds programs "A" (uuid 2) and "B" (uuid 1) of the run, and the first revocation is throttled
    ada = _engaged(platform, (P1, "B"), (P2, "A"))
    _configure(emulator, P1, P2, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1, P2)
    _hold(credentials_client, emulator, "ada", P1, P2)
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
    _configure(emulator, P1, P2, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1, P2)
    _hold(credentials_client, emulator, "ada", P1, P2)
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


@pytest.mark.parametrize("status", [400, 404, 418])
def test_a_4xx_on_one_revocation_revokes_the_others_then_fails_naming_it(
    database, platform, emulator, credentials_client, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds programs "A" (uuid 2), "B" (uuid 1), "C" (uuid 3); revoking "B" answers `status`
    _engaged(platform, (P1, "B"), (P2, "A"), (P3, "C"))
    _configure(emulator, P1, P2, P3, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _hold(credentials_client, emulator, "ada", P1, P2, P3)
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


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_on_one_revocation_revokes_the_others_and_the_retry_only_that_one(
    database, platform, emulator, credentials_client, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds programs "A" (uuid 2), "B" (uuid 1), "C" (uuid 3); revoking "B" answers `status`
    ada = _engaged(platform, (P1, "B"), (P2, "A"), (P3, "C"))
    _configure(emulator, P1, P2, P3, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1, P2, P3)
    _hold(credentials_client, emulator, "ada", P1, P2, P3)
    _fault_on_nth_post(emulator, 2, status=status)
    log = _Log(emulator)
    # When the task runs
    with pytest.raises(errors.TransientSyncError) as caught:
        _revoke(database, credentials_client)
    # Then "A" and "C" were revoked, and the row retries with backoff naming program 1 and the answer
    assert log.posted() == [P2, P1, P3]
    assert caught.value.delay_ms is None
    assert P1 in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)
    details = caught.value.details
    assert details is not None
    assert {k: v for k, v in details.items() if k != "server_errors"} == {
        "user_id": ada["id"],
        "revoked": [P2, P3],
        "rejected": [],
    }
    assert [(e["program_uuid"], e["status"]) for e in details["server_errors"]] == [(P1, status)]
    assert _held(emulator) == {P1: "awarded", P2: "revoked", P3: "revoked"}
    # When the retry runs, Then it re-reads and revokes only "B"
    retry = _Log(emulator)
    outcome = _revoke(database, credentials_client)
    assert [r["method"] for r in retry.api()] == ["GET", "POST"]
    assert retry.posted() == [P1]
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["revoked"] == [P1]
    assert _held(emulator) == {P1: "revoked", P2: "revoked", P3: "revoked"}


def test_revoking_a_program_deactivated_in_credentials_fails_with_its_real_400_answer(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Ada holds program 1, whose certificate configuration was since deactivated (its runs kept)
    _engaged(platform, (P1, "Program One"))
    _configure(emulator, P1, runs=(RUN,))
    _course_credentials(credentials_client, "ada", P1)
    _hold(credentials_client, emulator, "ada", P1)
    _configure(emulator, P1, runs=(RUN,), active=False)
    log = _Log(emulator)
    # When the task runs, Then the row fails with Credentials' explanation
    with pytest.raises(errors.PermanentSyncError) as caught:
        _revoke(database, credentials_client)
    assert [(r["method"], r["status"]) for r in log.api()] == [("GET", 200), ("POST", 400)]
    assert f"{P1}: HTTP 400" in str(caught.value)
    assert f"No active ProgramCertificate exists for program [{P1}]" in str(caught.value)
    assert _held(emulator) == {P1: "awarded"}
