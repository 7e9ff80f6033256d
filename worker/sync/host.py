"""Reads the host platform's state (reference host tables of DESIGN.md) for the sync rules."""

from __future__ import annotations

import dataclasses
import datetime

from worker import db


@dataclasses.dataclass(frozen=True)
class CourseCertificateFacts:
    """What ``award_course_certificate`` needs about a learner and a course run."""

    user_id: int
    certificate_id: int | None
    certificate_mode: str | None
    certificate_status: str | None
    date_override: datetime.datetime | None
    has_course_overview: bool


class HostReader:
    """Queries of the host tables (named unqualified: the connection's search_path is the host schema)."""

    def __init__(self, database: db.Database) -> None:
        self.database = database

    def paused_reason(self) -> str | None:
        """Why sync must wait (SPEC §8.1), or None while the Credentials config is enabled."""
        with self.database.transaction() as cur:
            row = db.fetch_one(cur, "host_credentials_config")
        if row is None:
            return "no credentials_credentialsapiconfig row: Credentials sync is disabled"
        if not row["enabled"]:
            return "the current credentials_credentialsapiconfig row has enabled = false"
        if not row["enable_learner_issuance"]:
            return "the current credentials_credentialsapiconfig row has enable_learner_issuance = false"
        return None

    def course_certificate_facts(self, username: str, course_run_key: str) -> CourseCertificateFacts | None:
        """The learner's eligible certificate for the run; None when there is no such learner."""
        with self.database.transaction() as cur:
            row = db.fetch_one(
                cur, "host_course_certificate_facts", {"username": username, "course_run_key": course_run_key}
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
