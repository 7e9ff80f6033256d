"""Payload validation of the five tasks (DESIGN "Public contract", SPEC §3.2 step 4, §8.3): no services."""

from __future__ import annotations

import datetime
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker import errors, tasks
from worker.sync import payloads

RUN = "course-v1:edX+DemoX+2026"
SUBTASK = "update_credentials_course_certificate_configuration_available_date"

GOOD_PAYLOADS: dict[str, dict[str, Any]] = {
    "award_program_certificates": {"username": "ada"},
    "award_course_certificate": {"username": "ada", "course_run_key": RUN},
    "revoke_program_certificates": {"username": "ada", "course_key": RUN},
    "send_grade_to_credentials": {"username": "ada", "course_run_key": RUN},
    "update_certificate_available_date_on_course_update": {"course_key": RUN},
    SUBTASK: {"course_key": RUN, "certificate_available_date": "2026-06-01T12:00:00Z"},
}
LEARNER_TASKS = [
    "award_program_certificates",
    "award_course_certificate",
    "revoke_program_certificates",
    "send_grade_to_credentials",
]
COURSE_KEY_TASKS = [
    "revoke_program_certificates",
    "update_certificate_available_date_on_course_update",
    SUBTASK,
]
UTC = datetime.UTC


def _parse(task: str, payload: dict[str, Any]) -> pydantic.BaseModel:
    return tasks.REGISTRY[task].parse(payload)


def _rejection(task: str, payload: dict[str, Any]) -> str:
    with pytest.raises(errors.PermanentSyncError) as caught:
        _parse(task, payload)
    return str(caught.value)


def test_the_good_payloads_cover_every_registered_task() -> None:
    # Given the registry, Then this file has a good payload for each of its five tasks
    assert sorted(tasks.REGISTRY.names()) == sorted(GOOD_PAYLOADS)


@pytest.mark.parametrize("task", sorted(GOOD_PAYLOADS))
def test_a_good_payload_is_accepted_as_the_task_model(task: str) -> None:
    # Given a well-formed payload, When it is parsed
    model = _parse(task, GOOD_PAYLOADS[task])
    # Then it is the task's model, holding the payload's values
    assert isinstance(model, tasks.REGISTRY[task].payload_model)
    for key, value in GOOD_PAYLOADS[task].items():
        if key != "certificate_available_date":
            assert getattr(model, key) == value


@pytest.mark.parametrize("task", sorted(GOOD_PAYLOADS))
def test_extra_keys_are_ignored(task: str) -> None:
    # Given a good payload with keys the task does not know
    payload = {**GOOD_PAYLOADS[task], "extra": {"nested": [1, 2]}, "lms_user_id": 7}
    # When it is parsed, Then it is accepted and the extras are not kept
    model = _parse(task, payload)
    assert "extra" not in model.model_dump()
    assert "lms_user_id" not in model.model_dump()


@pytest.mark.parametrize("task", LEARNER_TASKS)
@pytest.mark.parametrize("username", [42, ["ada"], True, {"name": "ada"}, 1.5, None])
def test_a_username_that_is_not_a_string_fails_with_a_message_naming_the_key(
    task: str, username: object
) -> None:
    # Given a payload whose username is not a string
    payload = {**GOOD_PAYLOADS[task], "username": username}
    # When it is parsed, Then it is a permanent failure naming the task and the key
    message = _rejection(task, payload)
    assert message.startswith(f"invalid payload for {task}: ")
    assert "username: Input should be a valid string" in message


@pytest.mark.parametrize("task", LEARNER_TASKS)
def test_an_empty_username_fails_with_a_message_naming_the_key(task: str) -> None:
    # Given a payload with an empty username, When it is parsed, Then it fails naming the key
    message = _rejection(task, {**GOOD_PAYLOADS[task], "username": ""})
    assert "username: String should have at least 1 character" in message


@pytest.mark.parametrize(
    ("task", "key"),
    [(spec.name, key) for spec in tasks.REGISTRY for key in spec.required_keys],
)
def test_a_missing_required_key_fails_with_a_message_naming_it(task: str, key: str) -> None:
    # Given a payload without one of its required keys (the INSERT check is bypassed here)
    payload = {k: v for k, v in GOOD_PAYLOADS[task].items() if k != key}
    # When it is parsed, Then the failure names the missing key
    assert f"{key}: Field required" in _rejection(task, payload)


@pytest.mark.parametrize("task", COURSE_KEY_TASKS)
@pytest.mark.parametrize(
    "course_key",
    [
        "",
        "bad",
        "course-v1:edX+DemoX",
        "course-v1:edX+DemoX+2026+extra",
        "course-v1:edX+Demo X+2026",
        "edX/DemoX",
        "edX/DemoX/2026/extra",
        "block-v1:edX+DemoX+2026+type@problem+block@1",
        " course-v1:edX+DemoX+2026",
    ],
)
def test_a_course_key_that_does_not_parse_fails_with_a_message_naming_the_key(
    task: str, course_key: str
) -> None:
    # Given a payload whose course key is neither course-v1:ORG+COURSE+RUN nor ORG/COURSE/RUN
    payload = {**GOOD_PAYLOADS[task], "course_key": course_key}
    # When it is parsed, Then it fails permanently, naming the key
    message = _rejection(task, payload)
    assert message.startswith(f"invalid payload for {task}: course_key: ")


@pytest.mark.parametrize("task", COURSE_KEY_TASKS)
@pytest.mark.parametrize("course_key", [2026, ["course-v1:edX+DemoX+2026"], True, None])
def test_a_course_key_that_is_not_a_string_fails_with_a_message_naming_the_key(
    task: str, course_key: object
) -> None:
    message = _rejection(task, {**GOOD_PAYLOADS[task], "course_key": course_key})
    assert "course_key: Input should be a valid string" in message


@pytest.mark.parametrize("task", COURSE_KEY_TASKS)
@pytest.mark.parametrize("course_key", [RUN + "\n", "edX/DemoX/2026\n"])
def test_a_course_key_with_a_trailing_newline_does_not_parse(task: str, course_key: str) -> None:
    # Given a course key followed by a newline (as a careless host might write it)
    payload = {**GOOD_PAYLOADS[task], "course_key": course_key}
    # When it is parsed, Then it is rejected as opaque-keys would reject it
    assert "course_key: " in _rejection(task, payload)


@pytest.mark.parametrize("task", COURSE_KEY_TASKS)
@pytest.mark.parametrize("course_key", [RUN, "edX/DemoX/2012_Fall", "course-v1:Org.X+CS-101_a+2026~T1"])
def test_both_course_key_forms_are_accepted(task: str, course_key: str) -> None:
    model = _parse(task, {**GOOD_PAYLOADS[task], "course_key": course_key})
    assert model.course_key == course_key  # type: ignore[attr-defined]


@pytest.mark.parametrize("course_run_key", ["not a course key", "course-v1:edX+DemoX", "edX/DemoX"])
def test_the_award_course_certificate_run_key_is_not_parsed_at_validation(course_run_key: str) -> None:
    # Given an award_course_certificate payload whose run key does not parse
    payload = {"username": "ada", "course_run_key": course_run_key}
    # When it is parsed, Then it is accepted: the task itself stops quietly on it (SPEC §3.2 step 4)
    model = _parse("award_course_certificate", payload)
    assert model.course_run_key == course_run_key  # type: ignore[attr-defined]


@pytest.mark.parametrize("course_run_key", [2026, "", None, ["x"]])
def test_the_award_course_certificate_run_key_must_still_be_a_non_empty_string(
    course_run_key: object,
) -> None:
    message = _rejection("award_course_certificate", {"username": "ada", "course_run_key": course_run_key})
    assert "course_run_key: " in message


@pytest.mark.parametrize("date", ["None", "tomorrow", 20260101, "2026-13-01", "", True, ["2026-01-01"], 1.5])
def test_a_certificate_available_date_that_is_not_iso_8601_fails_naming_the_key(date: object) -> None:
    # Given a subtask payload whose date is not an ISO 8601 string (the literal "None" included: §8.3)
    payload = {"course_key": RUN, "certificate_available_date": date}
    # When it is parsed, Then it fails permanently, naming the key
    message = _rejection(SUBTASK, payload)
    assert message.startswith(f"invalid payload for {SUBTASK}: certificate_available_date: ")


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (None, None),
        ("2026-06-01T12:00:00Z", datetime.datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("2026-06-01T14:00:00+02:00", datetime.datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("2026-06-01 14:00:00+02:00", datetime.datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("2026-06-01 12:00:00", datetime.datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ("2026-06-01T12:00:00.123456Z", datetime.datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-06-01", datetime.datetime(2026, 6, 1, tzinfo=UTC)),
    ],
)
def test_null_and_iso_8601_certificate_available_dates_are_accepted(
    date: str | None, expected: datetime.datetime | None
) -> None:
    # Given a subtask payload with null or an ISO 8601 date (Z, offset, space separator, date only)
    payload = {"course_key": RUN, "certificate_available_date": date}
    # When it is parsed
    model = _parse(SUBTASK, payload)
    # Then the date is that instant, timezone-aware (naive forms are taken as UTC)
    parsed = model.certificate_available_date  # type: ignore[attr-defined]
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_the_certificate_available_date_is_optional() -> None:
    model = _parse(SUBTASK, {"course_key": RUN})
    assert model.certificate_available_date is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("date", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_whose_utc_form_is_out_of_range_fails_validation_naming_the_key(date: str) -> None:
    # Given a date that is ISO 8601 but has no UTC representation in %Y-%m-%dT%H:%M:%SZ
    payload = {"course_key": RUN, "certificate_available_date": date}
    # When it is parsed, Then it fails permanently at validation, naming the key
    assert "certificate_available_date: " in _rejection(SUBTASK, payload)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (datetime.datetime(2026, 6, 1, 12, 30, 5, 999999, tzinfo=UTC), "2026-06-01T12:30:05Z"),
        (
            datetime.datetime(2026, 6, 1, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "2026-05-31T22:30:00Z",
        ),
        (datetime.datetime(2026, 6, 1, 12), "2026-06-01T12:00:00Z"),
    ],
)
def test_dates_go_out_as_utc_iso_with_z_and_null_stays_null(
    value: datetime.datetime | None, expected: str | None
) -> None:
    assert payloads.format_date(value) == expected


# -- the platform's lengths (the INSERT refuses longer values too: migration 0010) ----------------


def _course_key_of_length(length: int) -> str:
    prefix = "course-v1:edX+DemoX+"
    return prefix + "r" * (length - len(prefix))


@pytest.mark.parametrize("task", LEARNER_TASKS)
def test_a_username_of_150_characters_is_accepted_and_one_of_151_fails_naming_the_bound(task: str) -> None:
    # Given usernames at Django's auth_user.username length and one past it
    at_bound = {**GOOD_PAYLOADS[task], "username": "u" * 150}
    past_bound = {**GOOD_PAYLOADS[task], "username": "u" * 151}
    # When they are parsed, Then the first is accepted and the second fails, naming key and bound
    assert _parse(task, at_bound).username == "u" * 150  # type: ignore[attr-defined]
    assert "username: String should have at most 150 characters" in _rejection(task, past_bound)


@pytest.mark.parametrize("task", COURSE_KEY_TASKS)
def test_a_course_key_of_255_characters_is_accepted_and_one_of_256_fails_naming_the_bound(task: str) -> None:
    # Given course keys at the platform's CourseKeyField length and one past it
    at_bound = {**GOOD_PAYLOADS[task], "course_key": _course_key_of_length(255)}
    past_bound = {**GOOD_PAYLOADS[task], "course_key": _course_key_of_length(256)}
    # When they are parsed, Then the first is accepted and the second fails, naming key and bound
    assert len(_parse(task, at_bound).course_key) == 255  # type: ignore[attr-defined]
    assert "course_key: String should have at most 255 characters" in _rejection(task, past_bound)


def test_a_course_run_key_of_256_characters_fails_naming_the_bound() -> None:
    payload = {"username": "ada", "course_run_key": _course_key_of_length(256)}
    message = _rejection("award_course_certificate", payload)
    assert "course_run_key: String should have at most 255 characters" in message


def test_a_certificate_available_date_longer_than_64_characters_fails_saying_how_long() -> None:
    # Given a date padded far past any ISO 8601 form
    payload = {"course_key": RUN, "certificate_available_date": "2026-06-01T12:00:00Z" + " " * 1000}
    # When it is parsed, Then it fails naming the key, its length and the bound
    message = _rejection(SUBTASK, payload)
    assert "certificate_available_date: Value error, is 1,020 characters long; at most 64" in message


# -- property: parse never raises anything but PermanentSyncError -------------------------------------

PLAUSIBLE_STRINGS = st.sampled_from(
    [
        RUN,
        "edX/DemoX/2026",
        "course-v1:edX+DemoX",
        "ada",
        "",
        "None",
        "2026-06-01T12:00:00Z",
        "2026-06-01 12:00:00+02:00",
        "2026-06-01",
        "2026-13-01",
        "9999-12-31T23:59:59",
        "\x00",
        "\ud800",
    ]
)
JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | PLAUSIBLE_STRINGS
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
PAYLOAD_KEYS = st.sampled_from(
    ["username", "course_run_key", "course_key", "certificate_available_date"]
) | st.text(max_size=12)
PAYLOADS = st.dictionaries(PAYLOAD_KEYS, JSON_VALUES, max_size=6)


def _parsed_or_rejected(spec: Any, payload: dict[str, Any]) -> pydantic.BaseModel | errors.PermanentSyncError:
    try:
        return spec.parse(payload)  # type: ignore[no-any-return]
    except errors.PermanentSyncError as exc:
        return exc


@settings(deadline=None, max_examples=200, database=None)
@given(payload=PAYLOADS)
def test_any_json_payload_either_parses_or_fails_permanently_for_every_task(payload: dict[str, Any]) -> None:
    for spec in tasks.REGISTRY:
        # Given an arbitrary JSON-like payload, When the task parses it (any other exception escapes)
        answer = _parsed_or_rejected(spec, payload)
        # Then it is the task's model, or a permanent failure that names the task
        if isinstance(answer, errors.PermanentSyncError):
            assert str(answer).startswith(f"invalid payload for {spec.name}: ")
        else:
            assert isinstance(answer, spec.payload_model)
