"""POST /api/v2/grades/ and PUT/PATCH by id, as GradeViewSet answers them (SPEC-grades §4)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from tests.integration.emulator import support
from worker.emulator import admin, server

GRADES = support.GRADES
RUN = support.RUN
NOW = "2027-01-15T08:00:00Z"  # support.START
MISSING = object()
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
PERMISSION_DENIED = {"detail": "You do not have permission to perform this action."}
THROTTLED_60 = {"detail": "Request was throttled. Expected available in 60 seconds."}
NOT_A_NUMBER = "A valid number is required."
WRONG_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


def grade(**overrides: Any) -> dict[str, Any]:
    """A full JSON body for ada in RUN; an override of MISSING leaves the field out."""
    body: dict[str, Any] = {
        "username": "ada",
        "course_run": RUN,
        "letter_grade": "A",
        "percent_grade": 0.9,
        "verified": True,
        "lms_last_updated_at": "2026-05-01T12:34:56.789012Z",
        **overrides,
    }
    return {name: value for name, value in body.items() if value is not MISSING}


def row(**overrides: Any) -> dict[str, Any]:
    """The serialized row of ``grade()``, created at the test clock's start."""
    return {
        "id": 1,
        "username": "ada",
        "course_run": RUN,
        "letter_grade": "A",
        "percent_grade": "0.9000",
        "verified": True,
        "lms_last_updated_at": "2026-05-01T12:34:56Z",
        "created": NOW,
        "modified": NOW,
        **overrides,
    }


def grader(emulator: server.Emulator, client: support.Client, *permissions: str) -> support.Client:
    """``client`` as ``grader``, a non-staff user granted ``permissions`` directly."""
    emulator.configure_account("grader", permissions=permissions)
    return client.as_user("grader")


# -- update or create ------------------------------------------------------------------------------


def test_a_first_post_creates_the_grade_and_answers_201_with_the_row(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a course run in the catalog and the staff service user
    # When it posts a full grade
    response = client.post(GRADES, grade())
    # Then the row is created and rendered: percent as a 4-place string, times to the second
    assert (response.status_code, response.json()) == (201, row())
    assert emulator.grades() == [row()]


def test_a_first_post_with_only_the_required_fields_takes_the_model_defaults(client: support.Client) -> None:
    # Given no grade yet
    # When a grade is posted with username, course_run and percent_grade only
    body = grade(letter_grade=MISSING, verified=MISSING, lms_last_updated_at=MISSING)
    response = client.post(GRADES, body)
    # Then the letter grade is blank, verified is true and there is no LMS time
    expected = row(letter_grade="", verified=True, lms_last_updated_at=None)
    assert (response.status_code, response.json()) == (201, expected)


def test_posting_again_updates_only_the_fields_sent_and_still_answers_201(
    emulator: server.Emulator, client: support.Client, clock: support.Clock
) -> None:
    # Given a stored grade, unverified
    client.post(GRADES, grade(verified=False))
    clock.advance(30)
    # When the same learner and run are posted again with a new percent only
    response = client.post(GRADES, {"username": "ada", "course_run": RUN, "percent_grade": "0.5"})
    # Then the one row changed that field and its modified time; the rest is kept; still 201
    expected = row(percent_grade="0.5000", verified=False, modified="2027-01-15T08:00:30Z")
    assert (response.status_code, response.json()) == (201, expected)
    assert emulator.grades() == [expected]


def test_the_last_write_wins_even_when_its_lms_time_is_older(client: support.Client) -> None:
    # Given a grade last updated in the LMS on 2 May
    client.post(GRADES, grade(lms_last_updated_at="2026-05-02T00:00:00Z"))
    # When an older grade (1 May) arrives afterwards
    response = client.post(GRADES, grade(percent_grade=0.1, lms_last_updated_at="2026-05-01T00:00:00Z"))
    # Then it overwrites the newer one: nothing compares the times
    assert response.status_code == 201
    assert response.json()["percent_grade"] == "0.1000"
    assert response.json()["lms_last_updated_at"] == "2026-05-01T00:00:00Z"


def test_rows_are_keyed_by_the_trimmed_exact_username_and_the_run(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a second run in the catalog
    emulator.add_course_runs([support.OTHER_RUN])
    # When grades are posted for " ada ", "ada", "Ada" and ada in the other run
    for username, run in (("  ada ", RUN), ("ada", RUN), ("Ada", RUN), ("ada", support.OTHER_RUN)):
        assert client.post(GRADES, grade(username=username, course_run=run)).status_code == 201
    # Then the trimmed name updated ada's row; case and run make rows of their own
    keys = [(item["id"], item["username"], item["course_run"]) for item in emulator.grades()]
    assert keys == [(1, "ada", RUN), (2, "Ada", RUN), (3, "ada", support.OTHER_RUN)]


def test_a_null_letter_grade_is_stored_blank(client: support.Client) -> None:
    # Given a stored "A"
    client.post(GRADES, grade())
    # When the letter grade is posted as null (the serializer's hook turns it into "")
    response = client.post(GRADES, grade(letter_grade=None))
    # Then it is cleared
    assert (response.status_code, response.json()["letter_grade"]) == (201, "")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (0.9, "0.9000"),
        ("0.81", "0.8100"),
        (1, "1.0000"),
        (" 0.5 ", "0.5000"),
        ("9.9999", "9.9999"),
        ("-9.9999", "-9.9999"),
        ("1E-4", "0.0001"),
        ("1_0e-1", "1.0000"),
    ],
)
def test_percent_grades_are_stored_to_four_places(client: support.Client, sent: Any, stored: str) -> None:
    # Given a percent grade within one whole digit and four places (negatives included)
    # When it is posted
    response = client.post(GRADES, grade(percent_grade=sent))
    # Then it comes back quantized, as a string
    assert (response.status_code, response.json()["percent_grade"]) == (201, stored)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("yes", True), ("Off", False), ("T", True), ("0", False), (1, True), (0.0, False), ("true", True)],
)
def test_verified_takes_drfs_boolean_spellings(client: support.Client, sent: Any, stored: bool) -> None:
    # Given a spelling DRF's BooleanField accepts
    # When it is posted as verified
    response = client.post(GRADES, grade(verified=sent))
    # Then it is stored as that boolean
    assert (response.status_code, response.json()["verified"]) == (201, stored)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-05-01 12:34:56.789012+00:00", "2026-05-01T12:34:56Z"),
        ("2026-05-01T12:34:56+02:00", "2026-05-01T10:34:56Z"),
        ("2026-05-01T12:34", "2026-05-01T12:34:00Z"),
        ("2026-05-01", "2026-05-01T00:00:00Z"),
        ("ISO-8601", "1900-01-01T00:00:00Z"),
        (None, None),
    ],
)
def test_lms_last_updated_at_is_read_as_drf_reads_datetimes(
    client: support.Client, sent: str | None, stored: str | None
) -> None:
    # Given an ISO-8601 time (naive is UTC), a bare date, DRF's literal format name, or null
    # When it is posted
    response = client.post(GRADES, grade(lms_last_updated_at=sent))
    # Then it is stored in UTC and rendered to the second
    assert (response.status_code, response.json()["lms_last_updated_at"]) == (201, stored)


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "sent", "message"),
    [
        ("username", "", "This field may not be blank."),
        ("username", "   ", "This field may not be blank."),
        ("username", "x" * 151, "Ensure this field has no more than 150 characters."),
        ("username", None, "This field may not be null."),
        ("username", ["ada"], "Not a valid string."),
        ("course_run", "course-v1:edX+Nope+2026", "No CourseRun exists for key [course-v1:edX+Nope+2026]"),
        ("course_run", f"{RUN} ", f"No CourseRun exists for key [{RUN} ]"),
        ("course_run", "", "No CourseRun exists for key []"),
        ("course_run", None, "This field may not be null."),
        ("letter_grade", "x" * 256, "Ensure this field has no more than 255 characters."),
        ("percent_grade", "abc", NOT_A_NUMBER),
        ("percent_grade", "NaN", NOT_A_NUMBER),
        ("percent_grade", "Infinity", NOT_A_NUMBER),
        ("percent_grade", "-inf", NOT_A_NUMBER),
        ("percent_grade", "", NOT_A_NUMBER),
        ("percent_grade", True, NOT_A_NUMBER),
        ("percent_grade", None, "This field may not be null."),
        ("percent_grade", "1.00000", "Ensure that there are no more than 5 digits in total."),
        ("percent_grade", 0.30000000000000004, "Ensure that there are no more than 5 digits in total."),
        ("percent_grade", "0.12345", "Ensure that there are no more than 4 decimal places."),
        ("percent_grade", 1e-05, "Ensure that there are no more than 4 decimal places."),
        ("percent_grade", "10", "Ensure that there are no more than 1 digits before the decimal point."),
        ("percent_grade", "1" * 1001, "String value too large."),
        ("verified", "maybe", "Must be a valid boolean."),
        ("verified", "", "Must be a valid boolean."),
        ("verified", None, "This field may not be null."),
        ("lms_last_updated_at", "yesterday", WRONG_DATETIME),
        ("lms_last_updated_at", "", WRONG_DATETIME),
        ("lms_last_updated_at", 1714566896, WRONG_DATETIME),
        ("lms_last_updated_at", "0001-01-01T00:00:00+01:00", "Datetime value out of range."),
    ],
)
def test_an_invalid_field_is_a_400_with_drfs_message(
    emulator: server.Emulator, client: support.Client, field: str, sent: Any, message: str
) -> None:
    # Given a body with one invalid field
    # When it is posted
    response = client.post(GRADES, grade(**{field: sent}))
    # Then the answer names that field with DRF's message, and nothing is stored
    assert (response.status_code, response.json()) == (400, {field: [message]})
    assert emulator.grades() == []


def test_every_error_is_reported_at_once_in_the_serializers_field_order(client: support.Client) -> None:
    # Given a body missing its required fields and with every optional one invalid
    body = {"lms_last_updated_at": "soon", "verified": "maybe", "letter_grade": "x" * 256}
    # When it is posted
    response = client.post(GRADES, body)
    # Then each field has its message, in the serializer's order
    assert response.status_code == 400
    assert list(response.json().items()) == [
        ("username", ["This field is required."]),
        ("course_run", ["This field is required."]),
        ("letter_grade", ["Ensure this field has no more than 255 characters."]),
        ("percent_grade", ["This field is required."]),
        ("verified", ["Must be a valid boolean."]),
        ("lms_last_updated_at", [WRONG_DATETIME]),
    ]


@pytest.mark.parametrize("raw", [b"[]", b'["ada"]', b'"ada"', b"5", b"null"])
def test_a_body_that_is_not_an_object_crashes_the_letter_grade_hook(
    client: support.Client, raw: bytes
) -> None:
    # Given a JSON body that is not an object
    # When it is posted (UserGradeSerializer.is_valid calls .get on it before DRF checks its type)
    response = client.send("POST", GRADES, raw, "application/json")
    # Then the real service answers its HTML 500, not DRF's "Invalid data" 400
    assert support.is_html_error(response, 500)


def test_malformed_json_is_a_400_parse_error(client: support.Client) -> None:
    # Given a body that is not JSON
    # When it is posted
    response = client.send("POST", GRADES, b'{"username": ', "application/json")
    # Then DRF's JSONParser answers
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - Expecting value: line 1 column 14 (char 13)"}


def test_each_write_and_each_unknown_run_is_logged_as_the_service_logs_them(
    client: support.Client, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the emulator's logs captured
    caplog.set_level(logging.INFO, logger="worker.emulator")
    # When a grade is posted, then one for an unknown run
    client.post(GRADES, grade(lms_last_updated_at=MISSING))
    client.post(GRADES, grade(course_run="course-v1:edX+Nope+2026"))
    # Then the write is logged at INFO and the unknown run as an error
    logged = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert (
        logging.INFO,
        f"Updated grade for user [ada] in course [{RUN}] with percent_grade [0.9000], letter_grade [A], "
        "verified [True], and lms_last_updated_at [None]",
    ) in logged
    assert (logging.ERROR, "No CourseRun exists for key [course-v1:edX+Nope+2026]") in logged


# -- form bodies -----------------------------------------------------------------------------------


def test_a_form_post_as_the_lms_sends_it_is_accepted(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given the form body upstream's send_grade_to_credentials posts (requests' data=)
    form = {
        "username": "ada",
        "course_run": RUN,
        "letter_grade": "B",
        "percent_grade": "0.81",
        "verified": "True",
        "lms_last_updated_at": "2026-05-01 12:34:56.789012+00:00",
    }
    # When it is posted
    response = client.form("POST", GRADES, form)
    # Then it is stored, and recorded as the fields received
    assert (response.status_code, response.json()) == (201, row(letter_grade="B", percent_grade="0.8100"))
    assert emulator.requests()[-1]["json"] == form


def test_in_a_form_an_absent_verified_checkbox_is_false_except_in_a_patch(client: support.Client) -> None:
    # Given a verified grade
    client.post(GRADES, grade())
    form = {"username": "ada", "course_run": RUN, "percent_grade": "0.9"}
    # When a form without verified is PATCHed, then one with a blank verified is posted,
    # then one without verified is posted
    patched = client.form("PATCH", f"{GRADES}1/", form).json()["verified"]
    blank = client.form("POST", GRADES, {**form, "verified": ""}).json()["verified"]
    absent = client.form("POST", GRADES, form).json()["verified"]
    # Then the PATCH and the blank value left it alone; the absent checkbox of a POST is False
    assert (patched, blank, absent) == (True, True, False)


def test_in_a_form_blank_values_clear_the_letter_and_time_and_are_no_number(client: support.Client) -> None:
    # Given a grade with a letter and an LMS time
    client.post(GRADES, grade())
    form = {"username": "ada", "course_run": RUN, "letter_grade": "", "lms_last_updated_at": ""}
    # When blank values are posted as a form, first with a blank percent, then with one
    invalid = client.form("POST", GRADES, {**form, "percent_grade": ""})
    response = client.form("POST", GRADES, {**form, "percent_grade": "0.9"})
    # Then a blank percent is no number; a blank letter is blank and a blank time is null
    assert (invalid.status_code, invalid.json()) == (400, {"percent_grade": [NOT_A_NUMBER]})
    assert response.json() == row(letter_grade="", lms_last_updated_at=None, verified=False)


# -- PUT and PATCH by id ---------------------------------------------------------------------------


def test_put_and_patch_by_id_update_the_row_and_answer_200(
    client: support.Client, clock: support.Clock
) -> None:
    # Given a stored grade
    client.post(GRADES, grade())
    clock.advance(5)
    # When it is replaced by PUT (without verified), then one field is PATCHed
    put = client.request("PUT", f"{GRADES}1/", grade(letter_grade="C", percent_grade=0.7, verified=MISSING))
    patch = client.request("PATCH", f"{GRADES}1/", {"verified": False})
    # Then both answer 200 with the row; fields not sent are kept
    later = "2027-01-15T08:00:05Z"
    assert (put.status_code, put.json()) == (
        200,
        row(letter_grade="C", percent_grade="0.7000", modified=later),
    )
    expected = row(letter_grade="C", percent_grade="0.7000", verified=False, modified=later)
    assert (patch.status_code, patch.json()) == (200, expected)


def test_put_needs_the_required_fields_and_patch_does_not(client: support.Client) -> None:
    # Given a stored grade
    client.post(GRADES, grade())
    # When only a letter grade is sent by PUT, then by PATCH
    put = client.request("PUT", f"{GRADES}1/", {"letter_grade": "B"})
    patch = client.request("PATCH", f"{GRADES}1/", {"letter_grade": "B"})
    # Then PUT is refused for the missing fields and PATCH applies it
    required = ["This field is required."]
    assert (put.status_code, put.json()) == (
        400,
        {"username": required, "course_run": required, "percent_grade": required},
    )
    assert (patch.status_code, patch.json()["letter_grade"]) == (200, "B")


@pytest.mark.parametrize(
    ("lookup", "detail"), [("99", "No UserGrade matches the given query."), ("abc", "Not found.")]
)
def test_an_unknown_id_is_a_404_before_the_body_is_read(
    client: support.Client, lookup: str, detail: str
) -> None:
    # Given a stored grade
    client.post(GRADES, grade())
    # When another id, or one that is no integer, is PATCHed with a malformed body
    response = client.send("PATCH", f"{GRADES}{lookup}/", b"{", "application/json")
    # Then the lookup answers first: Django's 404 for the integer, a bare one for the rest
    assert (response.status_code, response.json()) == (404, {"detail": detail})


def test_moving_a_grade_onto_another_rows_learner_and_run_is_a_500(client: support.Client) -> None:
    # Given grades for ada and bob in the same run
    client.post(GRADES, grade())
    client.post(GRADES, grade(username="bob"))
    # When bob's row is PATCHed to ada
    response = client.request("PATCH", f"{GRADES}2/", {"username": "ada"})
    # Then the table's unique (username, course_run) constraint breaks: HTML 500
    assert support.is_html_error(response, 500)


def test_methods_without_an_action_on_a_route_are_405_once_permitted(client: support.Client) -> None:
    # Given a stored grade and the staff service user (which holds add and change)
    client.post(GRADES, grade())
    # When it PUTs the list route and POSTs a detail route
    put = client.request("PUT", GRADES, grade())
    post = client.post(f"{GRADES}1/", grade())
    # Then both are 405
    assert (put.status_code, put.json()) == (405, {"detail": 'Method "PUT" not allowed.'})
    assert (post.status_code, post.json()) == (405, {"detail": 'Method "POST" not allowed.'})


def test_the_route_needs_its_trailing_slash(client: support.Client) -> None:
    # Given the route without its slash
    # When a grade is posted there
    response = client.post(GRADES.rstrip("/"), grade())
    # Then Django's APPEND_SLASH redirects it
    assert (response.status_code, response.headers["Location"]) == (301, GRADES)


# -- authentication, permissions, throttle ---------------------------------------------------------


def test_without_a_token_every_method_is_401(raw_client: support.Client) -> None:
    # Given no credentials
    # When grades are posted, read, and patched
    responses = [
        raw_client.post(GRADES, grade()),
        raw_client.get(GRADES),
        raw_client.request("PATCH", f"{GRADES}1/", {}),
    ]
    # Then each is refused with DRF's 401 and the JWT challenge
    assert [(item.status_code, item.json()) for item in responses] == [(401, NOT_AUTHENTICATED)] * 3
    assert {item.headers["WWW-Authenticate"] for item in responses} == {'JWT realm="api"'}


def test_a_token_that_fails_its_checks_is_401(client: support.Client) -> None:
    # Given an expired token
    client.as_user("ada", staff=True, exp=int(client.clock()) - 1)
    # When it posts a grade
    response = client.post(GRADES, grade())
    # Then authentication fails
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


def test_a_learner_without_the_permission_gets_403_before_validation(client: support.Client) -> None:
    # Given a learner's token (administrator false: not in Admins)
    client.as_user("ada")
    # When it posts an invalid grade and patches one
    post = client.post(GRADES, {"percent_grade": "abc"})
    patch = client.request("PATCH", f"{GRADES}1/", {})
    # Then both are refused before the body or the id is looked at
    assert [(post.status_code, post.json()), (patch.status_code, patch.json())] == [
        (403, PERMISSION_DENIED)
    ] * 2


def test_get_and_delete_need_permissions_no_group_holds_so_staff_get_403(client: support.Client) -> None:
    # Given the staff service user (Admins: add and change grades only)
    client.post(GRADES, grade())
    # When it reads the list, reads one grade, and deletes it
    responses = [client.get(GRADES), client.get(f"{GRADES}1/"), client.request("DELETE", f"{GRADES}1/")]
    # Then the model permissions (view, delete) refuse them before the missing action could
    assert [(item.status_code, item.json()) for item in responses] == [(403, PERMISSION_DENIED)] * 3


def test_a_superuser_passes_every_permission_and_gets_405_for_get_and_delete(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a superuser (made by an operator) whose token is not an administrator's
    emulator.configure_account("root", is_superuser=True)
    client.as_user("root")
    # When it reads the list and deletes a grade
    read = client.get(GRADES)
    delete = client.request("DELETE", f"{GRADES}1/")
    # Then the viewset has no such actions
    assert (read.status_code, read.json()) == (405, {"detail": 'Method "GET" not allowed.'})
    assert (delete.status_code, delete.json()) == (405, {"detail": 'Method "DELETE" not allowed.'})


def test_a_user_granted_add_usergrade_may_post_but_not_patch(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a non-staff user granted records.add_usergrade directly
    grader(emulator, client, "records.add_usergrade")
    # When it posts a grade, then patches it
    post = client.post(GRADES, grade())
    patch = client.request("PATCH", f"{GRADES}1/", {"letter_grade": "B"})
    # Then the post is allowed and the patch (change_usergrade) is not
    assert (post.status_code, patch.status_code) == (201, 403)


def test_a_non_staff_grader_gets_429_with_retry_after_after_90_writes_a_minute(
    emulator: server.Emulator, client: support.Client, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a non-staff grader who posted 90 grades this second
    grader(emulator, client, "records.add_usergrade")
    statuses = {client.post(GRADES, grade(percent_grade=number / 100)).status_code for number in range(90)}
    caplog.set_level(logging.WARNING, logger="worker.emulator")
    # When it posts once more
    response = client.post(GRADES, grade())
    # Then the grade_view scope (90/minute) throttles it, and the service logs a warning
    assert statuses == {201}
    assert (response.status_code, response.json()) == (429, THROTTLED_60)
    assert response.headers["Retry-After"] == "60"
    messages = [record.getMessage() for record in caplog.records]
    assert "Credentials API endpoint GradeViewSet is being throttled." in messages


def test_the_throttle_runs_after_the_permission_and_before_validation(
    emulator: server.Emulator, client: support.Client, clock: support.Clock
) -> None:
    # Given a grader whose 90 invalid posts were counted
    grader(emulator, client, "records.add_usergrade")
    invalid = {client.post(GRADES, {}).status_code for _ in range(90)}
    # When it patches (no permission) and posts a valid grade 59 s later, then 60 s later
    patch = client.request("PATCH", f"{GRADES}1/", {}).status_code
    clock.advance(59)
    throttled = client.post(GRADES, grade())
    clock.advance(1)
    allowed = client.post(GRADES, grade()).status_code
    # Then the refused patch is a 403, the post waits for the window, then passes
    assert (invalid, patch) == ({400}, 403)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "1")
    assert throttled.json() == {"detail": "Request was throttled. Expected available in 1 second."}
    assert allowed == 201


def test_staff_and_superusers_are_never_throttled(emulator: server.Emulator, client: support.Client) -> None:
    # Given the staff service user, and a superuser without staff
    emulator.configure_account("root", is_superuser=True)
    superuser = support.Client(client.session, client.url, client.clock).as_user("root")
    # When each posts 100 grades in the same second
    staff = {client.post(GRADES, grade()).status_code for _ in range(100)}
    root = {superuser.post(GRADES, grade()).status_code for _ in range(100)}
    # Then none is throttled
    assert (staff, root) == ({201}, {201})


def test_the_grade_window_is_apart_from_the_credentials_window(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a grader who used up the credentials scope (15 reads of their own credentials)
    grader(emulator, client, "records.add_usergrade")
    reads = {client.get(support.CREDENTIALS, username="grader").status_code for _ in range(16)}
    # When it posts a grade
    response = client.post(GRADES, grade())
    # Then the grade_view scope has a window of its own
    assert reads == {200, 429}
    assert response.status_code == 201


# -- the admin API ---------------------------------------------------------------------------------


def test_the_admin_api_lists_the_grades_and_reset_clears_them(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a stored grade and the admin client
    client.post(GRADES, grade())
    with admin.EmulatorAdmin(emulator.url) as control:
        # When the grades are read, then the emulator is reset
        before = control.grades()
        control.reset()
        after = control.grades()
    # Then the grade was listed as the API renders it, and reset removed it
    assert (before, after) == ([row()], [])


def test_the_admin_api_configures_accounts_and_refuses_unknown_permissions(emulator: server.Emulator) -> None:
    # Given the admin client
    with admin.EmulatorAdmin(emulator.url) as control:
        # When a grader is configured, then a permission Credentials does not define is granted
        granted = control.configure_account("grader", permissions=["records.change_usergrade"])
        with pytest.raises(requests.HTTPError) as refused:
            control.configure_account("grader", permissions=["records.fly"])
    # Then the first is stored and the second is a 400
    assert granted == {
        "username": "grader",
        "is_superuser": False,
        "permissions": ["records.change_usergrade"],
    }
    assert refused.value.response.status_code == 400


def test_faults_can_target_the_grades_route(emulator: server.Emulator, client: support.Client) -> None:
    # Given one injected 503 with Retry-After on the grades route
    fault = server.Fault(method="POST", path_prefix=server.GRADES_PATH, status=503, retry_after_s=7, times=1)
    emulator.add_fault(fault)
    # When a grade is posted twice
    first = client.post(GRADES, grade())
    second = client.post(GRADES, grade())
    # Then the first meets the fault (Django's HTML 5xx) and the second is served
    assert support.is_html_error(first, 503)
    assert (first.headers["Retry-After"], second.status_code) == ("7", 201)
