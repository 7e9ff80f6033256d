"""Program completion (SPEC §4.2) through ``HostReader.completed_programs`` on real host tables."""

from __future__ import annotations

from typing import Any

import pytest

from worker.sync import host

P1 = "00000000-0000-4000-8000-000000000001"
P2 = "00000000-0000-4000-8000-000000000002"
P3 = "00000000-0000-4000-8000-000000000003"


def _run(course: str, year: int = 2026) -> str:
    return f"course-v1:edX+{course}+{year}"


def _course(course: str, *runs: tuple[str, str]) -> dict[str, Any]:
    """A catalog course entry; each run is (run key, run type)."""
    return {"key": f"edX+{course}", "course_runs": [{"key": key, "type": kind} for key, kind in runs]}


def _program_data(uuid: str, title: str, *courses: dict[str, Any]) -> dict[str, Any]:
    return {"uuid": uuid, "title": title, "courses": list(courses)}


def _completed(database: Any, user_id: int) -> list[str]:
    return [p.uuid for p in host.HostReader(database).completed_programs(user_id)]


def test_a_program_is_complete_when_every_course_has_a_passing_certificate_in_a_matching_run(
    database, platform
) -> None:  # type: ignore[no-untyped-def]
    # Given a two-course program and a learner with a downloadable verified certificate in each run
    ada = platform.learner("ada")
    for course in ("C1", "C2"):
        platform.course_run(_run(course))
        platform.certificate(ada["id"], _run(course), mode="verified", status="downloadable")
    platform.program(
        P1,
        "Data Science",
        _program_data(
            P1,
            "Data Science",
            _course("C1", (_run("C1"), "verified")),
            _course("C2", (_run("C2"), "verified")),
        ),
    )
    # When the completed programs are read
    programs = host.HostReader(database).completed_programs(ada["id"])
    # Then the program is complete, with its title
    assert programs == [host.Program(P1, "Data Science")]


def test_a_program_with_one_course_lacking_a_certificate_is_not_complete(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given a two-course program and a certificate in the first course only
    ada = platform.learner("ada")
    for course in ("C1", "C2"):
        platform.course_run(_run(course))
    platform.certificate(ada["id"], _run("C1"))
    platform.program(
        P1,
        "Two courses",
        _program_data(
            P1,
            "Two courses",
            _course("C1", (_run("C1"), "verified")),
            _course("C2", (_run("C2"), "verified")),
        ),
    )
    # When / Then the program is not complete
    assert _completed(database, ada["id"]) == []


@pytest.mark.parametrize(
    ("run_type", "certificate_mode", "counts"),
    [
        ("verified", "verified", True),
        ("credit", "verified", True),
        ("professional", "professional", True),
        ("professional", "no-id-professional", True),
        ("honor", "honor", True),
        ("verified", "audit", False),
        ("verified", "honor", False),
        ("honor", "verified", False),
        ("professional", "verified", False),
        ("credit", "professional", False),
        ("verified", "professional", False),
    ],
)
def test_a_certificate_counts_only_when_its_mode_matches_the_run_type_after_canonicalisation(
    database, platform, run_type: str, certificate_mode: str, counts: bool
) -> None:  # type: ignore[no-untyped-def]
    # Given a one-course program whose run has the given type, and a downloadable certificate in it
    ada = platform.learner("ada")
    platform.course_run(_run("C1"), modes=(certificate_mode,))
    platform.certificate(ada["id"], _run("C1"), mode=certificate_mode, status="downloadable")
    platform.program(P1, "P", _program_data(P1, "P", _course("C1", (_run("C1"), run_type))))
    # When / Then the program is complete exactly when the modes match (credit = verified,
    # no-id-professional = professional)
    assert _completed(database, ada["id"]) == ([P1] if counts else [])


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("downloadable", True),
        ("generating", True),
        ("notpassing", False),
        ("unavailable", False),
        ("audit_passing", False),
        ("audit_notpassing", False),
        ("error", False),
        ("restricted", False),
    ],
)
def test_only_a_passing_status_downloadable_or_generating_counts(
    database, platform, status: str, counts: bool
) -> None:  # type: ignore[no-untyped-def]
    # Given a one-course program and a verified certificate with the given status
    ada = platform.learner("ada")
    platform.course_run(_run("C1"))
    platform.certificate(ada["id"], _run("C1"), mode="verified", status=status)
    platform.program(P1, "P", _program_data(P1, "P", _course("C1", (_run("C1"), "verified"))))
    # When / Then
    assert _completed(database, ada["id"]) == ([P1] if counts else [])


def test_a_course_with_zero_runs_makes_its_program_incomplete(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given a program whose second course lists no runs, and a passing certificate for the first
    ada = platform.learner("ada")
    platform.course_run(_run("C1"))
    platform.certificate(ada["id"], _run("C1"))
    platform.program(P1, "P", _program_data(P1, "P", _course("C1", (_run("C1"), "verified")), _course("C2")))
    # When / Then the course without runs has no qualifying run: not complete
    assert _completed(database, ada["id"]) == []


def test_a_program_with_zero_courses_is_never_complete(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given a program with no courses, and a learner holding passing certificates
    ada = platform.learner("ada")
    platform.course_run(_run("C1"))
    platform.certificate(ada["id"], _run("C1"))
    platform.program(P1, "Empty", _program_data(P1, "Empty"))
    platform.program(P2, "Real", _program_data(P2, "Real", _course("C1", (_run("C1"), "verified"))))
    # When / Then only the program with courses is complete
    assert _completed(database, ada["id"]) == [P2]


def test_a_certificate_in_a_run_without_a_course_overview_does_not_count(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given a passing certificate in a run the platform has no course overview for
    ada = platform.learner("ada")
    platform.certificate(ada["id"], _run("C1"), mode="verified", status="downloadable")
    platform.program(P1, "P", _program_data(P1, "P", _course("C1", (_run("C1"), "verified"))))
    # When / Then the certificate is not eligible-and-available: not complete
    assert _completed(database, ada["id"]) == []
    # And once the overview exists, it counts
    platform.course_run(_run("C1"))
    assert _completed(database, ada["id"]) == [P1]


@pytest.mark.parametrize("passed_run", [2025, 2026])
def test_a_course_with_two_runs_is_completed_through_either_run(database, platform, passed_run: int) -> None:  # type: ignore[no-untyped-def]
    # Given a course with two runs and a passing certificate in only one of them
    ada = platform.learner("ada")
    platform.course_run(_run("C1", 2025))
    platform.course_run(_run("C1", 2026))
    platform.certificate(ada["id"], _run("C1", passed_run))
    platform.program(
        P1,
        "P",
        _program_data(P1, "P", _course("C1", (_run("C1", 2025), "verified"), (_run("C1", 2026), "verified"))),
    )
    # When / Then the course is complete through that run
    assert _completed(database, ada["id"]) == [P1]


def test_a_failed_run_does_not_prevent_completion_through_another_run_of_the_course(
    database, platform
) -> None:  # type: ignore[no-untyped-def]
    # Given a course with a notpassing certificate in one run and an honor certificate in a verified run
    # of the same course, and a downloadable one in a third run
    ada = platform.learner("ada")
    for year in (2024, 2025, 2026):
        platform.course_run(_run("C1", year))
    platform.certificate(ada["id"], _run("C1", 2024), status="notpassing")
    platform.certificate(ada["id"], _run("C1", 2025), mode="honor")
    platform.certificate(ada["id"], _run("C1", 2026))
    runs = [(_run("C1", year), "verified") for year in (2024, 2025, 2026)]
    platform.program(P1, "P", _program_data(P1, "P", _course("C1", *runs)))
    # When / Then the one qualifying run is enough
    assert _completed(database, ada["id"]) == [P1]


@pytest.mark.parametrize(
    ("status", "extra"),
    [("retired", {}), ("active", {"hidden": True}), ("retired", {"hidden": True}), ("unpublished", {})],
)
def test_retired_and_hidden_programs_still_count(
    database, platform, sql, status: str, extra: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    # Given a completed program that the catalog marks retired and/or hidden
    ada = platform.learner("ada")
    platform.course_run(_run("C1"))
    platform.certificate(ada["id"], _run("C1"))
    platform.program(
        P1, "Old", {**_program_data(P1, "Old", _course("C1", (_run("C1"), "verified"))), **extra}
    )
    sql.execute("UPDATE catalog_program SET status = %s WHERE uuid = %s", (status, P1))
    # When / Then it is complete all the same
    assert _completed(database, ada["id"]) == [P1]


def test_completion_does_not_need_an_enrollment(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given passing certificates but no enrollment at all in one run and an inactive one in the other
    ada = platform.learner("ada")
    for course in ("C1", "C2"):
        platform.course_run(_run(course))
        platform.certificate(ada["id"], _run(course))
    platform.enroll(ada["id"], _run("C2"), active=False)
    platform.program(
        P1,
        "P",
        _program_data(
            P1, "P", _course("C1", (_run("C1"), "verified")), _course("C2", (_run("C2"), "verified"))
        ),
    )
    # When / Then enrollment is not consulted
    assert _completed(database, ada["id"]) == [P1]


def test_another_learners_certificates_do_not_count(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given Bob completed the program and Ada holds nothing
    ada, bob = platform.learner("ada"), platform.learner("bob")
    platform.course_run(_run("C1"))
    platform.certificate(bob["id"], _run("C1"))
    platform.program(P1, "P", _program_data(P1, "P", _course("C1", (_run("C1"), "verified"))))
    # When / Then only Bob completed it
    assert _completed(database, ada["id"]) == []
    assert _completed(database, bob["id"]) == [P1]
    assert _completed(database, 999_999) == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"uuid": P1, "title": "Bad"}, id="no courses"),
        pytest.param({"uuid": P1, "title": "Bad", "courses": None}, id="courses null"),
        pytest.param(
            {"uuid": P1, "title": "Bad", "courses": {"key": "edX+C1", "course_runs": [{"key": "x"}]}},
            id="courses an object",
        ),
        pytest.param({"uuid": P1, "title": "Bad", "courses": "edX+C1"}, id="courses a string"),
        pytest.param({"uuid": P1, "title": "Bad", "courses": [{"key": "edX+C1"}]}, id="course_runs missing"),
        pytest.param(
            {
                "uuid": P1,
                "title": "Bad",
                "courses": [
                    {"key": "edX+C1", "course_runs": [{"key": "course-v1:edX+C1+2026", "type": "verified"}]},
                    {"key": "edX+C2"},
                ],
            },
            id="course_runs missing in a second course",
        ),
        pytest.param(
            {
                "uuid": P1,
                "title": "Bad",
                "courses": [
                    {"key": "edX+C1", "course_runs": [{"key": "course-v1:edX+C1+2026", "type": "verified"}]},
                    {"key": "edX+C2", "course_runs": {"key": "course-v1:edX+C2+2026", "type": "verified"}},
                ],
            },
            id="course_runs an object",
        ),
        pytest.param(
            {
                "uuid": P1,
                "title": "Bad",
                "courses": [
                    {"key": "edX+C1", "course_runs": [{"key": "course-v1:edX+C1+2026", "type": "verified"}]},
                    "edX+C2",
                    None,
                ],
            },
            id="courses that are not objects",
        ),
        pytest.param(
            {
                "uuid": P1,
                "title": "Bad",
                "courses": [
                    {"key": "edX+C1", "course_runs": [{"key": "course-v1:edX+C1+2026", "type": "verified"}]},
                    {"key": "edX+C2", "course_runs": ["course-v1:edX+C2+2026", None, 3]},
                ],
            },
            id="runs that are not objects",
        ),
        pytest.param(
            {
                "uuid": P1,
                "title": "Bad",
                "courses": [{"key": "edX+C1", "course_runs": [{"key": "course-v1:edX+C1+2026"}]}],
            },
            id="run type missing",
        ),
        pytest.param([{"courses": []}], id="data a list"),
        pytest.param({}, id="data empty"),
    ],
)
def test_a_malformed_catalog_entry_does_not_crash_and_does_not_complete(
    database, platform, data: Any
) -> None:  # type: ignore[no-untyped-def]
    # Given passing certificates in C1 and C2, a malformed program and a well-formed one
    ada = platform.learner("ada")
    for course in ("C1", "C2"):
        platform.course_run(_run(course))
        platform.certificate(ada["id"], _run(course))
    platform.program(P1, "Bad", data)
    platform.program(P2, "Good", _program_data(P2, "Good", _course("C1", (_run("C1"), "verified"))))
    # When / Then the query answers, with the well-formed program only
    assert _completed(database, ada["id"]) == [P2]


def test_completed_programs_are_sorted_by_uuid(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given three completed programs inserted in reverse uuid order, titles in another order
    ada = platform.learner("ada")
    platform.course_run(_run("C1"))
    platform.certificate(ada["id"], _run("C1"))
    for uuid, title in ((P3, "Alpha"), (P2, "Charlie"), (P1, "Bravo")):
        platform.program(uuid, title, _program_data(uuid, title, _course("C1", (_run("C1"), "verified"))))
    # When / Then they come back in uuid order
    assert host.HostReader(database).completed_programs(ada["id"]) == [
        host.Program(P1, "Bravo"),
        host.Program(P2, "Charlie"),
        host.Program(P3, "Alpha"),
    ]


def test_thirty_programs_and_twenty_certificates_give_the_exact_completed_set(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given 20 courses C00..C19 with one run each (even courses "verified" runs, odd ones "credit"),
    # and a verified certificate in every run: downloadable, except notpassing when i % 4 == 3
    # (so courses 3, 7, 11, 15 and 19 are not passed)
    ada = platform.learner("ada")
    runs = {i: _run(f"C{i:02d}") for i in range(20)}
    for i, key in runs.items():
        platform.course_run(key)
        platform.certificate(
            ada["id"], key, mode="verified", status="notpassing" if i % 4 == 3 else "downloadable"
        )
    # And 30 programs: program k holds 1 + k // 10 consecutive courses starting at course k % 20
    # (k 0..9: {k}; k 10..19: {k, k+1}; k 20..29: {k-20, k-19, k-18}, indices mod 20)
    for k in range(30):
        courses = [(k % 20 + j) % 20 for j in range(1 + k // 10)]
        uuid = f"00000000-0000-4000-8000-{k:012d}"
        platform.program(
            uuid,
            f"Program {k}",
            _program_data(
                uuid,
                f"Program {k}",
                *(_course(f"C{c:02d}", (runs[c], "verified" if c % 2 == 0 else "credit")) for c in courses),
            ),
        )
    # When the completed programs are read
    completed = _completed(database, ada["id"])
    # Then exactly the programs avoiding courses 3, 7, 11, 15, 19 are complete, in uuid order:
    # singles 0-2, 4-6, 8, 9; pairs {12,13}, {13,14}, {16,17}, {17,18}; triples {0,1,2}, {4,5,6}, {8,9,10}
    expected = [0, 1, 2, 4, 5, 6, 8, 9, 12, 13, 16, 17, 20, 24, 28]
    assert completed == [f"00000000-0000-4000-8000-{k:012d}" for k in expected]
