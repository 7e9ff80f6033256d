"""``/api/v2/course_certificates/`` on the emulator: create-or-update, constraints, lookup routes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator import support
from worker.emulator import server

COURSE_CERTIFICATES = support.COURSE_CERTIFICATES
RUN, OTHER_RUN = support.RUN, support.OTHER_RUN
DOTTED_RUN = "course-v1:MITx+6.003x+2026"


@pytest.fixture
def catalog_runs() -> list[str]:
    return [RUN, DOTTED_RUN]


def test_a_course_certificate_is_created_then_updated_linked_to_its_catalog_run(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a course certificate configuration for a catalog run
    created = client.configure_certificate()
    # When the same run and type is posted with an available date
    updated = client.configure_certificate(date="2026-03-01 10:00:00")
    # Then both are 201 for the same record, now dated, linked to the run
    assert created.status_code == updated.status_code == 201
    assert updated.json() == {
        "id": created.json()["id"],
        "site": 1,
        "course_id": RUN,
        "course_run": RUN,
        "certificate_type": "verified",
        "certificate_available_date": "2026-03-01T10:00:00Z",
        "is_active": True,
    }
    assert len(emulator.course_certificates()) == 1


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00Z"),
        ("2026-03-01 10:00:00.123456", "2026-03-01T10:00:00Z"),
        ("2027-01-01", "2027-01-01T00:00:00Z"),
        ("2026-3-1 10:00", "2026-03-01T10:00:00Z"),
    ],
    ids=["z", "offset", "space", "bare-date", "django-regex"],
)
def test_a_course_certificate_accepts_the_date_spellings_django_parses(
    client: support.Client, date: str, expected: str
) -> None:
    # Given an available date in one of the spellings Django's parse_datetime accepts
    # When it is posted
    response = client.configure_certificate(certificate_type="honor", date=date)
    # Then it is stored in UTC
    assert (response.status_code, response.json()["certificate_available_date"]) == (201, expected)


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"certificate_type": "credit"}, {"certificate_type": ['"credit" is not a valid choice.']}),
        ({"certificate_available_date": "None"}, {"certificate_available_date"}),
        ({"course_id": "not-a-course"}, {"course_id": ["Invalid course key."]}),
        ({"course_id": "course-v1:edX+NoRun"}, {"course_id": ["Invalid course key."]}),
        ({"is_active": "maybe"}, {"is_active": ["Must be a valid boolean."]}),
        ({"course_id": None}, {"course_id": ["This field may not be null."]}),
    ],
    ids=["credit-mode", "string-None", "bad-course-key", "no-run", "bad-boolean", "null-course"],
)
def test_an_invalid_course_certificate_gets_400(
    client: support.Client, change: dict[str, Any], errors: Any
) -> None:
    # Given a configuration with one invalid field
    # When it is posted
    response = client.configure_certificate(**change)
    # Then it is refused, naming that field
    assert response.status_code == 400
    assert (set(response.json()) if isinstance(errors, set) else response.json()) == errors


@pytest.mark.parametrize("missing", ["is_active", "certificate_available_date"])
def test_a_course_certificate_without_is_active_or_a_date_gets_500(
    emulator: server.Emulator, client: support.Client, missing: str
) -> None:
    # Given a configuration without is_active, or without a date (optional to the serializer)
    body = {
        "course_id": RUN,
        "certificate_type": "verified",
        "certificate_available_date": None,
        "is_active": True,
    }
    del body[missing]
    # When it is posted
    response = client.post(COURSE_CERTIFICATES, body)
    # Then create() reads the missing key: an HTML 500, nothing stored
    assert support.is_html_error(response, 500)
    assert emulator.course_certificates() == []


def test_a_second_certificate_type_for_a_catalog_run_gets_500_every_time(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a catalog run with a verified certificate
    client.configure_certificate(certificate_type="verified")
    # When an honor certificate is posted for it, twice
    answers = [client.configure_certificate(certificate_type="honor") for _ in range(2)]
    # Then the run's one-to-one link refuses it each time
    assert all(support.is_html_error(answer, 500) for answer in answers)
    assert [item["certificate_type"] for item in emulator.course_certificates()] == ["verified"]


def test_a_run_missing_from_the_catalog_holds_several_types_which_its_lookup_cannot_choose_between(
    client: support.Client,
) -> None:
    # Given a run Credentials' catalog does not hold
    # When verified then honor certificates are posted for it, and it is looked up
    verified = client.configure_certificate(OTHER_RUN, certificate_type="verified")
    honor = client.configure_certificate(OTHER_RUN, certificate_type="honor")
    looked_up = client.get(f"{COURSE_CERTIFICATES}{OTHER_RUN}/")
    # Then both are stored unlinked (course_run null), and the lookup finds two: an HTML 500
    assert (verified.status_code, honor.status_code) == (201, 201)
    assert verified.json()["course_run"] is None
    assert support.is_html_error(looked_up, 500)


def test_a_certificate_is_looked_up_by_course_id(client: support.Client) -> None:
    # Given a configured run
    created = client.configure_certificate().json()
    # When it is looked up, and a run without a certificate is looked up
    found = client.get(f"{COURSE_CERTIFICATES}{RUN}/")
    missing = client.get(f"{COURSE_CERTIFICATES}course-v1:edX+None+2026/")
    # Then the first answers the stored certificate, the second DRF's 404
    assert (found.status_code, found.json()) == (200, created)
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "No CourseCertificate matches the given query."},
    )


def test_a_course_id_with_a_dot_does_not_resolve(client: support.Client) -> None:
    # Given a configured run whose key holds a dot
    assert client.configure_certificate(DOTTED_RUN).status_code == 201
    # When it is looked up
    response = client.get(f"{COURSE_CERTIFICATES}{DOTTED_RUN}/")
    # Then DRF's default lookup pattern stops at the dot: Django's HTML 404
    assert support.is_html_error(response, 404)


def test_the_collection_has_no_list_and_a_certificate_no_delete(client: support.Client) -> None:
    # Given a configured run
    client.configure_certificate()
    # When the collection is read and the certificate deleted
    listed = client.get(COURSE_CERTIFICATES)
    deleted = client.request("DELETE", f"{COURSE_CERTIFICATES}{RUN}/")
    # Then neither method has a handler
    assert (listed.status_code, listed.json()) == (405, {"detail": 'Method "GET" not allowed.'})
    assert (deleted.status_code, deleted.json()) == (405, {"detail": 'Method "DELETE" not allowed.'})


def test_a_certificate_is_patched_and_put_by_course_id(client: support.Client) -> None:
    # Given a configured run
    client.configure_certificate()
    path = f"{COURSE_CERTIFICATES}{RUN}/"
    # When it is patched, put without a type, then put whole
    patched = client.request("PATCH", path, {"is_active": False})
    incomplete = client.request("PUT", path, {"course_id": RUN})
    put = client.request("PUT", path, {"course_id": RUN, "certificate_type": "honor", "is_active": True})
    # Then PATCH changes one field, PUT needs the required ones, and a full PUT replaces them
    assert (patched.status_code, patched.json()["is_active"]) == (200, False)
    assert (incomplete.status_code, incomplete.json()) == (
        400,
        {"certificate_type": ["This field is required."]},
    )
    assert (put.status_code, put.json()["certificate_type"], put.json()["is_active"]) == (200, "honor", True)
