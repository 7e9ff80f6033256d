"""What a row may carry (migration 0010): each bound refused at INSERT with a clear message, and
whatever passes settles. The issue's example first (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.platform import Platform
from tests.rig import Rig
from worker.sync import payloads

RUN = "course-v1:edX+DemoX+2026"
SUBTASK = "update_credentials_course_certificate_configuration_available_date"
#: Four bytes in UTF-8: the worst case for the indexes' byte limit.
WIDE = "\U0001f393"


def _refusal(sql: Any, task: str, payload: Any, *, literal: bool = False) -> psycopg.Error:
    """The error the INSERT answers; the outbox is left as it was."""
    before = _count(sql)
    value = payload if literal else Jsonb(payload)
    with pytest.raises(psycopg.Error) as caught:
        sql.execute("INSERT INTO credsync.outbox (task, payload) VALUES (%s, %s::jsonb)", (task, value))
    assert _count(sql) == before
    return caught.value


def _message(sql: Any, task: str, payload: Any, *, literal: bool = False) -> str:
    error = _refusal(sql, task, payload, literal=literal)
    assert isinstance(error, psycopg.errors.CheckViolation), error
    return str(error.diag.message_primary)


def _count(sql: Any) -> int:
    return int(sql.execute("SELECT count(*) AS n FROM credsync.outbox").fetchone()["n"])


def _insert(platform: Platform, task: str, payload: dict[str, Any]) -> int:
    return platform.enqueue(task, payload)


def _course_key(length: int, fill: str = "r") -> str:
    prefix = "course-v1:edX+DemoX+"
    return prefix + fill * (length - len(prefix))


# -- the issue's example --------------------------------------------------------------------------


def test_the_issues_million_character_username_is_refused_naming_the_key_and_its_bound(sql: Any) -> None:
    # Given a fresh database, When a host inserts the issue's row
    before = _count(sql)
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        sql.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES ('award_course_certificate',"
            " jsonb_build_object('username', repeat('x', 1000000), 'course_run_key', 'course-v1:A+B+C'))"
        )
    # Then its transaction learns which key is too long, by how much, and the bound: no index named
    assert caught.value.diag.message_primary == (
        'credsync.outbox: payload key "username" is 1,000,000 characters long; at most 150'
    )
    assert "username 150" in (caught.value.diag.message_hint or "")
    # And nothing was stored
    assert _count(sql) == before


# -- each declared key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "base", "key", "bound", "value_of"),
    [
        ("award_course_certificate", {"course_run_key": RUN}, "username", 150, lambda n: WIDE * n),
        ("award_course_certificate", {"username": "ada"}, "course_run_key", 255, lambda n: WIDE * n),
        ("revoke_program_certificates", {"username": "ada"}, "course_key", 255, lambda n: WIDE * n),
        (SUBTASK, {"course_key": RUN}, "certificate_available_date", 64, lambda n: "9" * n),
        # Indexed whatever the task: a username on a course task counts too.
        (
            "update_certificate_available_date_on_course_update",
            {"course_key": RUN},
            "username",
            150,
            "u".__mul__,
        ),
    ],
)
def test_a_declared_key_at_its_bound_is_stored_and_one_character_more_is_refused(
    sql: Any, platform: Platform, task: str, base: dict[str, Any], key: str, bound: int, value_of: Any
) -> None:
    # Given a value of the bound's length (4-byte characters where the key is indexed)
    at_bound = {**base, key: value_of(bound)}
    # When it is inserted, Then the row is stored (and indexed: no btree limit met)
    row_id = _insert(platform, task, at_bound)
    assert sql.execute("SELECT payload FROM credsync.outbox WHERE id = %s", (row_id,)).fetchone()["payload"]
    # And one character more is refused with the key, its length and the bound
    message = _message(sql, task, {**base, key: value_of(bound + 1)})
    assert message == f'credsync.outbox: payload key "{key}" is {bound + 1} characters long; at most {bound}'


def test_a_declared_key_that_is_not_a_string_is_bounded_by_its_json_text(sql: Any) -> None:
    # Given a username that is an array whose JSON text is long (the indexes hold that text)
    payload = {"username": list(range(1000)), "course_run_key": RUN}
    # When it is inserted, Then the refusal says what it is and how long
    assert _message(sql, "award_course_certificate", payload) == (
        'credsync.outbox: payload key "username" is a JSON array of 4,890 characters; at most 150'
    )


def test_a_short_declared_key_of_the_wrong_type_is_stored_to_fail_in_the_worker(platform: Platform) -> None:
    # Given a username that is a short number (wrong in type, not in size)
    # When it is inserted, Then it is stored: the worker fails it, naming the key (README)
    assert _insert(platform, "award_program_certificates", {"username": 42}) > 0


# -- the whole payload ----------------------------------------------------------------------------


def _padded(size: int) -> dict[str, Any]:
    """A good award_program_certificates payload of exactly ``size`` bytes as Postgres writes it."""
    base = {"username": "ada", "note": ""}
    overhead = len(json.dumps(base, separators=(", ", ": ")))
    return {**base, "note": "n" * (size - overhead)}


def test_a_payload_of_8192_bytes_is_stored_and_one_byte_more_is_refused(sql: Any, platform: Platform) -> None:
    # Given a payload of exactly the bound in its text form
    at_bound = _padded(8192)
    assert (
        sql.execute("SELECT octet_length(%s::jsonb::text) AS n", (Jsonb(at_bound),)).fetchone()["n"] == 8192
    )
    # When it is inserted, Then it is stored
    _insert(platform, "award_program_certificates", at_bound)
    # And one byte more is refused with the size and the bound
    assert _message(sql, "award_program_certificates", _padded(8193)) == (
        "credsync.outbox: the payload of task award_program_certificates is 8,193 bytes as JSON text;"
        " at most 8,192"
    )


def _nested(levels: int) -> dict[str, Any]:
    """A good payload nested ``levels`` deep (the payload object is level 1)."""
    inner: Any = []
    for _ in range(levels - 2):
        inner = [inner]
    return {"username": "ada", "context": inner}


def test_a_payload_nested_8_levels_is_stored_and_9_is_refused(sql: Any, platform: Platform) -> None:
    _insert(platform, "award_program_certificates", _nested(8))
    assert _message(sql, "award_program_certificates", _nested(9)) == (
        "credsync.outbox: the payload of task award_program_certificates is nested 9 levels deep; at most 8"
    )


def test_a_payload_nested_thousands_deep_is_refused_saying_how_deep(sql: Any) -> None:
    # Given a payload Postgres can parse but Python could not read back (past its recursion limit)
    text = '{"username": "ada", "context": ' + "[" * 3000 + "]" * 3000 + "}"
    # When it is inserted, Then it is refused with its depth, found without walking all of it
    assert _message(sql, "award_program_certificates", text, literal=True) == (
        "credsync.outbox: the payload of task award_program_certificates is nested 3,001 levels deep;"
        " at most 8"
    )


def test_a_number_of_400_characters_is_stored_and_a_longer_one_is_refused(
    sql: Any, platform: Platform
) -> None:
    # Given a number of 400 digits (more than any double needs) and the issue's kind of overflow
    _insert(platform, "award_program_certificates", {"username": "ada", "lms_user_id": int("9" * 400)})
    # When 1e5000 is inserted (Postgres writes it out as 5,001 digits: more than Python reads)
    message = _message(sql, "award_program_certificates", '{"username": "ada", "n": [1e5000]}', literal=True)
    # Then it is refused, saying how long it is
    assert message == (
        "credsync.outbox: the payload of task award_program_certificates holds a number of 5,001"
        " characters (10000000000000000000...); at most 400"
    )


def test_a_nul_character_is_refused_by_postgres_itself_before_the_trigger(sql: Any) -> None:
    # Given a username holding \u0000 (jsonb has no way to store it)
    for payload in ('{"username": "a\\u0000b"}', '{"username": "ada", "note": "\\u0000"}'):
        # When it is inserted, Then Postgres refuses it with its own clear message, storing nothing
        error = _refusal(sql, "award_program_certificates", payload, literal=True)
        assert isinstance(error, psycopg.errors.UntranslatableCharacter)
        assert error.diag.message_detail == "\\u0000 cannot be converted to text."


# -- the other columns ----------------------------------------------------------------------------


def test_a_run_after_of_infinity_is_refused_and_minus_infinity_means_now(sql: Any) -> None:
    insert = (
        "INSERT INTO credsync.outbox (task, payload, run_after)"
        " VALUES ('award_program_certificates', '{\"username\": \"ada\"}', %s)"
        " RETURNING run_after <= now() AS due"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="run_after must be a finite time, not infinity"):
        sql.execute(insert, ("infinity",))
    assert sql.execute(insert, ("-infinity",)).fetchone()["due"] is True


def test_a_long_unknown_task_name_is_cut_in_the_message(sql: Any) -> None:
    message = _message(sql, "t" * 100_000, {"username": "ada"})
    assert message == f"credsync.outbox: unknown task '{'t' * 100}'... (100,000 characters)"


def test_the_writer_role_meets_the_same_bounds(sql: Any) -> None:
    # Given the host's role (credsync_writer: INSERT only)
    sql.execute("SET ROLE credsync_writer")
    try:
        # When it inserts a good row and a row past a bound
        sql.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES ('award_program_certificates', %s)",
            (Jsonb({"username": "ada"}),),
        )
        with pytest.raises(psycopg.errors.CheckViolation, match='payload key "username" is 151 characters'):
            sql.execute(
                "INSERT INTO credsync.outbox (task, payload) VALUES ('award_program_certificates', %s)",
                (Jsonb({"username": "u" * 151}),),
            )
    finally:
        sql.execute("RESET ROLE")
    # Then the good row is there, the other is not
    assert _count(sql) == 1


# -- the worker agrees ----------------------------------------------------------------------------


def test_the_worker_models_apply_the_databases_key_lengths(sql: Any) -> None:
    bounds = sql.execute("SELECT * FROM credsync.payload_bounds()").fetchone()
    assert bounds["key_max_length"] == payloads.KEY_MAX_LENGTH


@pytest.fixture
def rig(database: Any, platform: Platform, emulator: Any) -> Iterator[Rig]:
    platform.enable_credentials()
    platform.service_user()
    platform.course_run(RUN)
    emulator.add_course_runs([RUN])
    r = Rig(database, emulator, max_retries=1)
    yield r
    r.close()


def test_a_row_that_got_past_the_bounds_ends_failed_naming_the_key(
    sql: Any, platform: Platform, rig: Rig
) -> None:
    # Given a row stored before the bounds (its payload grown afterwards: the trigger sees inserts only)
    row_id = _insert(platform, "award_course_certificate", {"username": "ada", "course_run_key": RUN})
    sql.execute(
        "UPDATE credsync.outbox SET payload = jsonb_set(payload, '{username}', to_jsonb(repeat('u', 151)))"
        " WHERE id = %s",
        (row_id,),
    )
    # When the pipeline runs it
    rig.pipeline.drain()
    # Then it ended failed at its first attempt, with a message naming the key and the bound
    row = rig.pipeline.row(row_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "username: String should have at most 150 characters" in row["last_error"]


def test_a_row_at_every_bound_at_once_is_processed_and_settles(
    sql: Any, platform: Platform, rig: Rig
) -> None:
    # Given rows at every bound together: 4-byte keys at their lengths, a number of 400 digits,
    # nesting 8 deep, 8,192 bytes in all
    widest = {"username": WIDE * 150, "course_run_key": WIDE * 255}
    course = {"course_key": _course_key(255), "certificate_available_date": "2026-06-01T12:00:00+02:00"}
    rows = []
    for task, payload in [
        ("award_course_certificate", widest),
        ("award_program_certificates", {"username": WIDE * 150, "n": int("9" * 400)}),
        ("revoke_program_certificates", {"username": WIDE * 150, "course_key": WIDE * 255}),
        ("update_certificate_available_date_on_course_update", {"course_key": _course_key(255)}),
        (SUBTASK, course),
        ("award_program_certificates", _nested(8)),
        ("award_program_certificates", _padded(8192)),
    ]:
        rows.append(_insert(platform, task, payload))
    # When the pipeline runs them
    rig.pipeline.drain()
    # Then each ended done or failed, with a reason or a message: none is left, none crashed a worker
    for row_id in rows:
        row = rig.pipeline.row(row_id)
        assert row["status"] in ("done", "failed"), row
        assert row["result"] if row["status"] == "done" else row["last_error"], row
