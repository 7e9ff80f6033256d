"""Reads the host platform's state (reference host tables of DESIGN.md) for the sync rules."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

from worker import db
from worker.clients import tokens


@dataclasses.dataclass(frozen=True)
class CourseCertificateFacts:
    """What ``award_course_certificate`` needs about a learner and a course run."""

    user_id: int
    certificate_id: int | None
    certificate_mode: str | None
    certificate_status: str | None
    date_override: datetime.datetime | None
    has_course_overview: bool


@dataclasses.dataclass(frozen=True)
class GradeFacts:
    """What ``send_grade_to_credentials`` reads about a learner and a course run, in one round trip."""

    user_id: int
    #: The current Credentials config has ``enabled`` and ``enable_learner_issuance``.
    credentials_enabled: bool
    #: ``ENABLE_LEARNER_RECORDS`` of the first enabled site configuration listing the run's org,
    #: as that configuration holds it (any JSON value); ``learner_records_set`` is false when no
    #: such configuration holds the key (then the platform's setting applies).
    learner_records_set: bool
    learner_records: Any
    #: The learner's certificate in the run, whatever its status; None when there is none.
    certificate_mode: str | None
    certificate_status: str | None
    #: Some ``catalog_program`` lists the run among its ``courses[].course_runs[]``.
    in_a_program: bool
    #: The persisted course grade; ``has_grade`` false means none (a zero grade).
    has_grade: bool
    percent_grade: float | None
    letter_grade: str | None
    grade_modified: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Learner:
    """A user, with the facts a token signed for them carries."""

    id: int
    identity: tokens.Identity


@dataclasses.dataclass(frozen=True)
class Program:
    uuid: str
    title: str


@dataclasses.dataclass(frozen=True)
class CourseOverview:
    id: str
    org: str
    self_paced: bool
    end: datetime.datetime | None
    certificate_available_date: datetime.datetime | None
    certificates_display_behavior: str | None


class HostReader:
    """Queries of the host tables (named unqualified: the connection's search_path is the host schema)."""

    def __init__(self, database: db.Database) -> None:
        self.database = database

    def _one(self, query: str, params: dict[str, Any] | None = None) -> db.Row | None:
        with self.database.statement() as cur:
            return db.fetch_one(cur, query, params)

    def _all(self, query: str, params: dict[str, Any]) -> list[db.Row]:
        with self.database.statement() as cur:
            return db.fetch_all(cur, query, params)

    def paused_reason(self) -> str | None:
        """Why sync must wait (SPEC §8.1), or None while the Credentials config is enabled."""
        row = self._one("host_credentials_config")
        if row is None:
            return "no credentials_credentialsapiconfig row: Credentials sync is disabled"
        if not row["enabled"]:
            return "the current credentials_credentialsapiconfig row has enabled = false"
        if not row["enable_learner_issuance"]:
            return "the current credentials_credentialsapiconfig row has enable_learner_issuance = false"
        return None

    def learner_id(self, username: str) -> int | None:
        """The learner's user id, or None when no user has that username."""
        found = self.learner(username)
        return None if found is None else found.id

    def learner(self, username: str) -> Learner | None:
        """The user named ``username`` (a learner, or the service user), or None when there is none."""
        row = self._one("host_learner", {"username": username})
        if row is None:
            return None
        return Learner(int(row["id"]), tokens.Identity(row["username"], row["email"], bool(row["is_staff"])))

    def identity(self, username: str) -> tokens.Identity | None:
        """What a token for ``username`` says, from ``auth_user``; None when there is no such user."""
        found = self.learner(username)
        return None if found is None else found.identity

    def course_certificate_facts(self, username: str, course_run_key: str) -> CourseCertificateFacts | None:
        """The learner's eligible certificate for the run; None when there is no such learner."""
        row = self._one(
            "host_course_certificate_facts", {"username": username, "course_run_key": course_run_key}
        )
        if row is None:
            return None
        return CourseCertificateFacts(
            user_id=row["user_id"],
            certificate_id=row["certificate_id"],
            certificate_mode=row["certificate_mode"],
            certificate_status=row["certificate_status"],
            date_override=row["date_override"],
            has_course_overview=row["has_course_overview"],
        )

    def grade_facts(self, username: str, course_run_key: str, org: str) -> GradeFacts | None:
        """The learner's certificate and grade in the run, and the gates around them (SPEC-grades
        §3.1); None when there is no such learner. ``org`` is the run key's org."""
        row = self._one(
            "host_grade_facts", {"username": username, "course_run_key": course_run_key, "org": org}
        )
        if row is None:
            return None
        return GradeFacts(
            user_id=row["user_id"],
            credentials_enabled=bool(row["credentials_enabled"]),
            learner_records_set=bool(row["learner_records_set"]),
            learner_records=row["learner_records"],
            certificate_mode=row["certificate_mode"],
            certificate_status=row["certificate_status"],
            in_a_program=bool(row["in_a_program"]),
            has_grade=bool(row["has_grade"]),
            percent_grade=row["percent_grade"],
            letter_grade=row["letter_grade"],
            grade_modified=row["grade_modified"],
        )

    def completed_programs(self, user_id: int) -> list[Program]:
        """Programs the learner completed (SPEC §4.2), by uuid."""
        return [
            Program(r["uuid"], r["title"]) for r in self._all("host_completed_programs", {"user_id": user_id})
        ]

    def engaged_programs(self, user_id: int, course_key: str) -> list[Program]:
        """Programs reached through the learner's active enrollment in the run (SPEC §4.3), by title."""
        rows = self._all("host_engaged_programs", {"user_id": user_id, "course_key": course_key})
        return [Program(r["uuid"], r["title"]) for r in rows]

    def course_overview(self, course_key: str) -> CourseOverview | None:
        row = self._one("host_course_overview", {"course_key": course_key})
        if row is None:
            return None
        return CourseOverview(
            id=row["id"],
            org=row["org"],
            self_paced=row["self_paced"],
            end=row["end"],
            certificate_available_date=row["certificate_available_date"],
            certificates_display_behavior=row["certificates_display_behavior"],
        )

    def course_mode_slugs(self, course_key: str) -> list[str]:
        """One slug per course mode row of the run (a mode in two currencies appears twice)."""
        return [r["mode_slug"] for r in self._all("host_course_modes", {"course_key": course_key})]

    def course_run_certificate_holder(
        self, course_run_key: str, *, ineligible_modes: Sequence[str] = ()
    ) -> tuple[int, str] | None:
        """One learner (user id, username) holding an eligible certificate in the run, chosen
        deterministically (downloadable first, then the certificate changed longest ago); None when
        nobody does. ``ineligible_modes``: certificate modes that do not count (audit, ...)."""
        row = self._one(
            "host_course_run_certificate_holder",
            {"course_run_key": course_run_key, "ineligible_modes": list(ineligible_modes)},
        )
        return None if row is None else (int(row["user_id"]), row["username"])
