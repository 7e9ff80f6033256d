"""Whose token, against the emulator in its default mode (a default Credentials install, SPEC §5.7):
learner reads with learner tokens, refusals that wait instead of burning retries, a learner's
throttle that is that learner's, and server errors on program writes that retry the row."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests import rig as rigs
from tests.rig import Rig
from worker.emulator import server

CREDENTIALS = "/api/v2/credentials/"


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


P1, P2 = _uuid(1), _uuid(2)


def _run_of(uuid: str) -> str:
    return f"course-v1:edX+C{uuid[-4:]}+2026"


@pytest.fixture
def host(platform: Any, emulator: server.Emulator) -> Any:
    """Sync enabled, the service user, and programs P1 and P2 of one course each, in Credentials too."""
    platform.enable_credentials()
    platform.service_user()
    for uuid in (P1, P2):
        run = _run_of(uuid)
        platform.course_run(run)
        courses = [{"key": f"edX+K{uuid[-4:]}", "course_runs": [{"key": run, "type": "verified"}]}]
        platform.program(uuid, f"Program {uuid[-4:]}", {"uuid": uuid, "courses": courses})
        emulator.configure_program(uuid, active=True, course_runs=[run])
    return platform


def _completes(platform: Any, username: str, *uuids: str, learner: dict[str, Any] | None = None) -> list[int]:
    """The learner earns a certificate in each program's run, and the host enqueues what its signals
    would: a course certificate row per run, then the program award."""
    learner = learner or platform.learner(username)
    rows = []
    for uuid in uuids:
        platform.certificate(learner["id"], _run_of(uuid))
        platform.enroll(learner["id"], _run_of(uuid))
        rows.append(
            platform.enqueue(
                "award_course_certificate", {"username": username, "course_run_key": _run_of(uuid)}
            )
        )
    rows.append(platform.enqueue("award_program_certificates", {"username": username}))
    return rows


def _rig(database: Any, emulator: server.Emulator, **options: Any) -> Iterator[Rig]:
    r = Rig(database, emulator, **options)
    yield r
    r.close()


@pytest.fixture
def signed(database: Any, emulator: server.Emulator) -> Iterator[Rig]:
    yield from _rig(database, emulator)


@pytest.fixture
def oauth_only(database: Any, emulator: server.Emulator) -> Iterator[Rig]:
    yield from _rig(database, emulator, signed=False)


def _programs_held(emulator: server.Emulator, username: str) -> list[str]:
    return sorted(
        c["credential"]["program_uuid"]
        for c in emulator.credentials()
        if c["username"] == username and c["credential"]["type"] == "program" and c["status"] == "awarded"
    )


def _expire_holds(sql: Any) -> None:
    """A minute passes: the holds end and the rows waiting on them are due."""
    sql.execute("UPDATE credsync.cooldown SET until = now() - interval '1 second'")
    sql.execute("UPDATE credsync.outbox SET run_after = now() WHERE status = 'pending'")


def test_signing_tokens_a_new_learners_first_program_award_succeeds_and_her_account_has_her_email(
    host: Any, signed: Rig, emulator: server.Emulator
) -> None:
    # Given a learner Credentials has never seen, who completed two programs
    rows = _completes(host, "ada", P1, P2)
    # When credsync syncs her
    signed.pipeline.drain()
    # Then every row is done and she holds both program certificates
    assert [signed.pipeline.row(r)["status"] for r in rows] == ["done"] * 3
    assert _programs_held(emulator, "ada") == [P1, P2]
    # And her account in Credentials was created by her own read, with the host's email
    [account] = [a for a in emulator.accounts() if a["username"] == "ada"]
    assert account["email"] == "ada@example.com"
    assert not account["is_staff"]


def test_programs_already_held_are_read_back_with_the_learners_token_and_not_sent_again(
    host: Any, signed: Rig, emulator: server.Emulator
) -> None:
    # Given ada already holds P1 in Credentials
    ada = host.learner("ada")
    _completes(host, "ada", P1, learner=ada)
    signed.pipeline.drain()
    assert _programs_held(emulator, "ada") == [P1]
    # When she completes P2 and the award runs again
    rows = _completes(host, "ada", P2, learner=ada)
    mark = len(emulator.requests())
    signed.pipeline.drain()
    # Then only P2 is posted: P1 was read back with her token
    programs_posted = [
        r["json"]["credential"].get("program_uuid")
        for r in emulator.requests()[mark:]
        if r["method"] == "POST" and r["path"] == CREDENTIALS and "program_uuid" in r["json"]["credential"]
    ]
    assert programs_posted == [P2]
    assert signed.pipeline.row(rows[-1])["result"]["already_awarded"] == [P1]
    assert _programs_held(emulator, "ada") == [P1, P2]


def test_oauth_only_a_refused_read_makes_program_rows_wait_unspent_while_course_certificates_flow(
    host: Any, oauth_only: Rig, emulator: server.Emulator, sql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given OAuth only on a default install (no view grant) and three learners who completed P1
    rows = {name: _completes(host, name, P1) for name in ("ada", "grace", "alan")}
    # When credsync syncs them
    with caplog.at_level(logging.ERROR):
        oauth_only.pipeline.drain(allow_waiting=True)
    # Then every course certificate went through, and every program award waits with no attempt used
    for course_row, program_row in rows.values():
        assert oauth_only.pipeline.row(course_row)["status"] == "done"
        waiting = oauth_only.pipeline.row(program_row)
        assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
        assert waiting["waiting_on"].startswith("Credentials refuses GET")
        assert "view_usercredential" in waiting["waiting_on"]
        assert waiting["last_error"] is None
    # And the refusal was logged once, not once per row, and is visible as a hold
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR and "refuses GET" in r.getMessage()]
    assert len(refusals) == 1
    [hold] = oauth_only.cooldowns.holds()
    assert (hold.kind, hold.scope) == ("refused", f"{emulator.url}#refused:GET {CREDENTIALS}")

    # When the operator grants the read, and the learners have once signed in to Credentials
    emulator.set_switches(admins_can_view=True)
    for name in rows:
        rigs.sign_in(emulator, name)
    _expire_holds(sql)
    oauth_only.pipeline.drain()
    # Then the waiting rows go on by themselves, each with its first attempt
    for name, (_, program_row) in rows.items():
        done = oauth_only.pipeline.row(program_row)
        assert (done["status"], done["attempts"], done["last_error"], done["waiting_on"]) == (
            "done",
            1,
            None,
            None,
        )
        assert _programs_held(emulator, name) == [P1]


def test_oauth_only_with_the_grant_a_learner_who_never_signed_in_gets_the_500_and_the_row_retries(
    host: Any, oauth_only: Rig, emulator: server.Emulator
) -> None:
    # Given the view grant, but a learner without an account in Credentials
    emulator.set_switches(admins_can_view=True)
    [_, program_row] = _completes(host, "ada", P1)
    # When the award runs (retries included)
    oauth_only.pipeline.drain()
    # Then every attempt met the learner-records 500, and the row failed after its retries
    row = oauth_only.pipeline.row(program_row)
    assert row["status"] == "failed"
    assert row["attempts"] == 6
    assert "HTTP 500" in row["last_error"]
    assert _programs_held(emulator, "ada") == []


def test_a_throttled_learner_waits_alone_while_other_learners_and_the_writes_go_on(
    host: Any, signed: Rig, emulator: server.Emulator
) -> None:
    # Given ada spent her 15 reads of this minute in Credentials
    for _ in range(15):
        rigs.sign_in(emulator, "ada")
    ada = _completes(host, "ada", P1)
    grace = _completes(host, "grace", P1)
    # When credsync syncs both
    signed.pipeline.drain(allow_waiting=True)
    # Then ada's course certificate (a write) went through, her program award waits unspent
    assert signed.pipeline.row(ada[0])["status"] == "done"
    waiting = signed.pipeline.row(ada[1])
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
    assert "throttled" in waiting["waiting_on"]
    # And grace was not held back at all; only ada's reads are held
    assert [signed.pipeline.row(r)["status"] for r in grace] == ["done", "done"]
    assert [(h.kind, h.scope) for h in signed.cooldowns.holds()] == [
        ("learner_throttle", f"{emulator.url}#learner:ada")
    ]
    assert signed.cooldowns.paused_reason(emulator.url) is None


def test_a_server_error_on_one_program_retries_the_row_which_sends_only_what_is_missing(
    host: Any, signed: Rig, emulator: server.Emulator
) -> None:
    # Given a learner who completed P1 and P2, and a 500 on the award of P2 (the 4th POST)
    rows = _completes(host, "ada", P1, P2)
    emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="latency", latency_ms=0, times=3)
    )
    emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="status", status=500, times=1)
    )
    # When credsync syncs her
    signed.pipeline.drain()
    # Then the program row took two attempts and the second posted only P2
    row = signed.pipeline.row(rows[-1])
    assert (row["status"], row["attempts"]) == ("done", 2)
    programs_posted = [
        (r["run"], r["attempt"], r["status"]) for r in signed.ledger.of_row(rows[-1]) if r["method"] == "POST"
    ]
    assert programs_posted == [(1, 1, 201), (1, 1, 500), (1, 2, 201)]
    assert row["result"]["awarded"] == [P2]
    assert _programs_held(emulator, "ada") == [P1, P2]
