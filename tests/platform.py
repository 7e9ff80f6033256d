"""A small host platform builder for tests: learners, course runs, certificates, config rows."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_seq = itertools.count(1)


class Platform:
    """Writes reference host rows through a real connection (no mocks)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def enable_credentials(self, enabled: bool = True, learner_issuance: bool = True) -> None:
        self.conn.execute(
            "INSERT INTO credentials_credentialsapiconfig (change_date, enabled, enable_learner_issuance)"
            " VALUES (clock_timestamp(), %s, %s)",
            (enabled, learner_issuance),
        )

    def learner(
        self, username: str | None = None, *, email: str | None = None, is_staff: bool = False
    ) -> dict[str, Any]:
        username = username or f"learner{next(_seq)}"
        row = self.conn.execute(
            "INSERT INTO auth_user (username, email, is_staff) VALUES (%s, %s, %s) RETURNING id, username",
            (username, email or f"{username}@example.com", is_staff),
        ).fetchone()
        assert row is not None
        return {"id": row["id"] if isinstance(row, dict) else row[0], "username": username}

    def service_user(self, username: str = "credentials_service_user") -> dict[str, Any]:
        """The LMS's Credentials service user (staff): the claims of credsync's signed write token."""
        return self.learner(username, email=f"{username}@lms.example.com", is_staff=True)

    def course_run(
        self,
        key: str,
        *,
        org: str | None = None,
        self_paced: bool = False,
        end: datetime.datetime | None = None,
        certificate_available_date: datetime.datetime | None = None,
        display_behavior: str | None = "end",
        modes: tuple[str, ...] = ("verified",),
    ) -> str:
        org = org or key.removeprefix("course-v1:").split("+")[0].split("/")[0]
        self.conn.execute(
            'INSERT INTO course_overviews_courseoverview (id, org, self_paced, "end",'
            " certificate_available_date, certificates_display_behavior) VALUES (%s, %s, %s, %s, %s, %s)",
            (key, org, self_paced, end, certificate_available_date, display_behavior),
        )
        for mode in modes:
            self.conn.execute(
                "INSERT INTO course_modes_coursemode (course_id, mode_slug) VALUES (%s, %s)", (key, mode)
            )
        return key

    def certificate(
        self,
        user_id: int,
        course_run_key: str,
        *,
        mode: str = "verified",
        status: str = "downloadable",
        date_override: datetime.datetime | None = None,
    ) -> int:
        row = self.conn.execute(
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (user_id, course_id) DO UPDATE SET mode = EXCLUDED.mode, status = EXCLUDED.status,"
            " modified_date = now() RETURNING id",
            (user_id, course_run_key, mode, status),
        ).fetchone()
        assert row is not None
        cert_id = int(row["id"] if isinstance(row, dict) else row[0])
        if date_override is not None:
            self.conn.execute(
                "INSERT INTO certificates_certificatedateoverride (generated_certificate_id, date)"
                " VALUES (%s, %s)",
                (cert_id, date_override),
            )
        return cert_id

    def grade(
        self,
        user_id: int,
        course_run_key: str,
        *,
        percent: float = 0.81,
        letter: str = "B",
        modified: datetime.datetime | None = None,
    ) -> int:
        """The learner's persisted course grade in the run (created or updated, as the LMS does)."""
        row = self.conn.execute(
            "INSERT INTO grades_persistentcoursegrade"
            " (user_id, course_id, percent_grade, letter_grade, modified)"
            " VALUES (%s, %s, %s, %s, coalesce(%s, now()))"
            " ON CONFLICT (course_id, user_id) DO UPDATE SET percent_grade = EXCLUDED.percent_grade,"
            " letter_grade = EXCLUDED.letter_grade, modified = EXCLUDED.modified RETURNING id",
            (user_id, course_run_key, percent, letter, modified),
        ).fetchone()
        assert row is not None
        return int(row["id"] if isinstance(row, dict) else row[0])

    def site_configuration(
        self, domain: str, *, orgs: str | list[str], enabled: bool = True, **values: Any
    ) -> int:
        """A site and its configuration: ``course_org_filter`` = ``orgs``, plus ``values``
        (``ENABLE_LEARNER_RECORDS=False``, ...)."""
        site = self.conn.execute(
            "INSERT INTO django_site (domain) VALUES (%s) RETURNING id", (domain,)
        ).fetchone()
        assert site is not None
        site_id = site["id"] if isinstance(site, dict) else site[0]
        row = self.conn.execute(
            "INSERT INTO site_configuration_siteconfiguration (site_id, enabled, site_values)"
            " VALUES (%s, %s, %s) RETURNING id",
            (site_id, enabled, Jsonb({"course_org_filter": orgs, **values})),
        ).fetchone()
        assert row is not None
        return int(row["id"] if isinstance(row, dict) else row[0])

    def override_history(
        self, certificate_id: int, when: datetime.datetime, *, kind: str = "~", override_id: int = 0
    ) -> None:
        """A date override change recorded by django-simple-history (``+`` created, ``~``, ``-`` deleted)."""
        self.conn.execute(
            "INSERT INTO certificates_historicalcertificatedateoverride"
            " (id, generated_certificate_id, date, history_date, history_type) VALUES (%s, %s, %s, %s, %s)",
            (override_id or certificate_id, certificate_id, when, when, kind),
        )

    def modified(self, certificate_id: int, when: datetime.datetime) -> None:
        """Set a certificate's modified_date (the LMS's auto_now), to place it in a time window."""
        self.conn.execute(
            "UPDATE certificates_generatedcertificate SET modified_date = %s WHERE id = %s",
            (when, certificate_id),
        )

    def enroll(
        self, user_id: int, course_run_key: str, *, mode: str = "verified", active: bool = True
    ) -> None:
        self.conn.execute(
            "INSERT INTO student_courseenrollment (user_id, course_id, mode, is_active)"
            " VALUES (%s, %s, %s, %s)",
            (user_id, course_run_key, mode, active),
        )

    def program(self, uuid: str, title: str, data: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO catalog_program (uuid, title, data) VALUES (%s, %s, %s)", (uuid, title, Jsonb(data))
        )

    def enqueue(self, task: str, payload: dict[str, Any]) -> int:
        row = self.conn.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES (%s, %s) RETURNING id", (task, Jsonb(payload))
        ).fetchone()
        assert row is not None
        return int(row["id"] if isinstance(row, dict) else row[0])
